"""A key without READ writes, but reads nothing back through a mutation's answer.

A mutation answers with the objects it wrote, and those lead anywhere: the messages of
the conversation just renamed, the title of the conversation just deleted. Without READ
an answer may hold only what the write itself produced (ids, ingest's per-item outcomes,
`__typename`); anything else refuses the whole operation before it runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType

from resolvers.ids import to_global_id
from schema import build_schema
from schema.scopes import RECEIPTS
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_key, as_user, new_key
from tests.ws_client import connect

SCHEMA = build_schema()

STATE = "query($c: ID!) { conversation(id: $c) { title summary status messageCount } }"
UPDATE = 'updateConversation(id: $c, input: {title: "renamed"})'
SEND = 'sendMessage(input: {conversationId: $c, senderId: "alice", content: "written"})'
MESSAGES = "messages { nodes { content } }"


def mutation(body: str, *fragments: str) -> str:
    """An operation declaring the variables (conversation, message) it uses, and no other:
    an unused one would fail validation."""
    text = " ".join([body, *fragments])
    variables = ", ".join(f"${name}: ID!" for name in ("c", "m") if f"${name}" in text)
    return " ".join([f"mutation({variables}) {{ {body} }}", *fragments])


@dataclass
class World:
    alice: GraphQLClient
    conversation: str
    message: str
    writer: GraphQLClient  # alice's key with WRITE only
    secret: str

    async def state(self) -> dict[str, Any]:
        return await self.alice.data(STATE, {"c": self.conversation})

    async def execute(self, client: GraphQLClient, document: str) -> dict[str, Any]:
        return await client.execute(document, {"c": self.conversation, "m": self.message})


@pytest.fixture
async def world(secured_http: httpx.AsyncClient) -> World:
    alice = as_user(secured_http, "alice")
    conversation = (
        await factories.conversation(alice, owner={"participantId": "alice"}, title="alice's")
    )["id"]
    await factories.message(alice, conversation, senderId="alice", content="private")
    # The last message: deleting it deletes no reply with it.
    message = await factories.message(alice, conversation, senderId="alice", content="also private")
    secret, _ = await new_key(alice, ["WRITE"])
    return World(alice, conversation, message["id"], as_key(secured_http, secret), secret)


def assert_refused(body: dict[str, Any]) -> None:
    """Refused before execution: one FORBIDDEN error naming READ, and no data at all."""
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "READ scope" in error["message"]


REFUSED = {
    "a nested connection": mutation(f"{UPDATE} {{ {MESSAGES} }}"),
    "a named fragment": mutation(
        f"{UPDATE} {{ id ...Read }}", f"fragment Read on Conversation {{ {MESSAGES} }}"
    ),
    "an inline fragment": mutation(f"{UPDATE} {{ id ... on Conversation {{ {MESSAGES} }} }}"),
    "an untyped inline fragment": mutation(f"{UPDATE} {{ ... {{ title }} }}"),
    "fragments in fragments": mutation(
        f"{UPDATE} {{ ...Ids }}",
        "fragment Ids on Conversation { id __typename ...Read }",
        "fragment Read on Conversation { title }",
    ),
    "an alias": mutation(f"{UPDATE} {{ id name: title }}"),
    "a fragment on the root": mutation(
        "...Write", f"fragment Write on Mutation {{ {UPDATE} {{ id title }} }}"
    ),
    "a field the write set": mutation(f"{SEND} {{ content }}"),
    "a related row": mutation(f"{SEND} {{ id conversation {{ id title }} }}"),
    "a fragment on the interface": mutation(
        f"{SEND} {{ ... on Node {{ id ... on Message {{ content }} }} }}"
    ),
    "one root field of two": mutation(f"ids: {SEND} {{ id }} text: {SEND} {{ content }}"),
    "the memory written": mutation(
        'setConversationMemory(conversationId: $c, summary: "s") { id summary }'
    ),
    "the status written": mutation("archiveConversation(id: $c) { status }"),
    "a deleted conversation's title": mutation("deleteConversation(id: $c) { deletedId title }"),
    "the conversation after a deletion": mutation(
        "deleteMessage(id: $m) { deletedIds conversation { messageCount } }"
    ),
}


@pytest.mark.parametrize("document", REFUSED.values(), ids=REFUSED.keys())
async def test_a_write_key_reads_nothing_through_a_mutation(world: World, document: str) -> None:
    before = await world.state()
    assert_refused(await world.execute(world.writer, document))
    assert await world.state() == before


IDS = "fragment Ids on Message { id __typename }"
ALLOWED = {
    "id": ("{ id }", {"id"}),
    "id and __typename": ("{ id __typename }", {"id", "__typename"}),
    "an aliased id": ("{ written: id }", {"written"}),
    "a fragment of ids": ("{ ...Ids }", {"id", "__typename"}),
    "a fragment on the interface": ("{ ... on Node { id } }", {"id"}),
}


@pytest.mark.parametrize(("selection", "keys"), ALLOWED.values(), ids=ALLOWED.keys())
async def test_a_write_key_gets_the_id_of_what_it_wrote(
    world: World, selection: str, keys: set[str]
) -> None:
    fragments = [IDS] if "...Ids" in selection else []
    body = await world.execute(world.writer, mutation(f"{SEND} {selection}", *fragments))
    assert "errors" not in body, body
    sent = body["data"]["sendMessage"]
    assert set(sent) == keys
    assert sent.get("__typename", "Message") == "Message"
    assert (await world.state())["conversation"]["messageCount"] == 3


async def test_a_write_key_still_writes_renames_and_deletes(world: World) -> None:
    renamed = await world.writer.data(mutation(f"{UPDATE} {{ id }}"), {"c": world.conversation})
    assert renamed == {"updateConversation": {"id": world.conversation}}
    assert (await world.state())["conversation"]["title"] == "renamed"
    deleted = await world.writer.data(
        mutation("deleteMessage(id: $m) { deletedIds conversation { id __typename } }"),
        {"m": world.message},
    )
    assert deleted["deleteMessage"] == {
        "deletedIds": [world.message],
        "conversation": {"id": world.conversation, "__typename": "Conversation"},
    }
    gone = await world.writer.data(
        mutation("deleteConversation(id: $c) { deletedId __typename }"), {"c": world.conversation}
    )
    assert gone["deleteConversation"]["deletedId"] == world.conversation
    assert await world.state() == {"conversation": None}


async def test_a_key_with_read_gets_the_whole_answer(
    world: World, secured_http: httpx.AsyncClient
) -> None:
    secret, _ = await new_key(world.alice, ["READ", "WRITE"])
    both = as_key(secured_http, secret)
    updated = await both.data(
        mutation(f"{UPDATE} {{ title {MESSAGES} }}"), {"c": world.conversation}
    )
    assert updated["updateConversation"] == {
        "title": "renamed",
        "messages": {"nodes": [{"content": "private"}, {"content": "also private"}]},
    }
    sent = await both.data(
        mutation(f"{SEND} {{ content conversation {{ messageCount }} }}"), {"c": world.conversation}
    )
    assert sent["sendMessage"] == {"content": "written", "conversation": {"messageCount": 3}}


OUTCOMES = "ingest(batch: $batch) { __typename index clientEventId ok id error { code message } }"


async def test_an_ingest_key_gets_outcomes_but_no_rows(
    world: World, secured_http: httpx.AsyncClient
) -> None:
    secret, _ = await new_key(world.alice, ["INGEST"])
    ingester = as_key(secured_http, secret)
    sent = {"conversationId": world.conversation, "senderId": "alice", "content": "ingested"}
    lost = {**sent, "conversationId": to_global_id("Conversation", uuid.uuid4())}
    batch = [{"clientEventId": "sent", "message": sent}, {"clientEventId": "lost", "message": lost}]
    variables = {"batch": batch, "c": world.conversation}
    # Nothing of the batch is applied when another root field of the operation reads.
    reading = f"mutation($batch: [IngestItem!]!, $c: ID!) {{ {OUTCOMES} {UPDATE} {{ title }} }}"
    assert_refused(await ingester.execute(reading, variables))
    assert (await world.state())["conversation"]["messageCount"] == 2
    ingest = f"mutation($batch: [IngestItem!]!) {{ {OUTCOMES} }}"
    results = (await ingester.data(ingest, variables))["ingest"]
    assert [(r["__typename"], r["index"], r["clientEventId"], r["ok"]) for r in results] == [
        ("IngestItemResult", 0, "sent", True),
        ("IngestItemResult", 1, "lost", False),
    ]
    assert [bool(r["id"]) for r in results] == [True, False]
    assert [r["error"] and r["error"]["code"] for r in results] == [None, "NOT_FOUND"]
    assert (await world.state())["conversation"]["messageCount"] == 3


async def test_without_read_nothing_is_read_over_a_websocket(
    world: World, secured_server_url: str
) -> None:
    async with connect(secured_server_url, {"apiKey": world.secret}) as socket:
        events = "subscription($c: ID!) { conversationEvents(conversationId: $c) { kind } }"
        refused = await socket.message(await socket.subscribe(events, {"c": world.conversation}))
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
        update = mutation(f"{UPDATE} {{ {MESSAGES} }}")
        op = await socket.subscribe(update, {"c": world.conversation, "m": world.message})
        answered = await socket.message(op)
        assert_refused(answered["payload"])
    assert (await world.state())["conversation"]["title"] == "alice's"


def test_every_receipt_field_is_in_the_schema() -> None:
    """A receipt renamed in the schema would silently stop being allowed."""
    for type_name, fields in RECEIPTS.items():
        found = SCHEMA._schema.get_type(type_name)
        assert isinstance(found, GraphQLObjectType), type_name
        assert fields <= set(found.fields), type_name
