"""deleteConversation and deleteMessage: cascades leave nothing behind, totals stay right."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import exists, func, insert, select
from starlette.applications import Starlette

import models
from models.base import utcnow
from resolvers.analytics import score_rollups
from resolvers.analytics.usage_rollups import compact
from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user
from tests.lifecycle_graph import DERIVED, mentioning, raw, rich_conversation, table_rows, uuids
from tests.ws_client import GraphQLWebSocket

DELETE = "mutation($id: ID!) { deleteConversation(id: $id) { deletedId title } }"
DELETE_MESSAGE = """mutation($id: ID!) { deleteMessage(id: $id) {
  deletedIds conversation { messageCount inputTokens outputTokens totalTokens cost } } }"""
USAGE = """query($c: [ID!]) { usage(filter: {conversationIds: $c}) {
  inputTokens outputTokens totalTokens cost } }"""
TOTALS = """query($c: ID!) { conversation(id: $c) {
  messageCount inputTokens outputTokens totalTokens cost
  messages { nodes { id content } }
  all: messages(allBranches: true) { nodes { id inputTokens outputTokens totalTokens cost } }
} }"""


def owned_ids(rows: dict[str, list[dict[str, Any]]], conversation_id: uuid.UUID) -> set[Any]:
    """The conversation's id and the ids of every row that leads to it, at any distance."""
    found: set[Any] = {conversation_id}
    while True:
        more = {
            row["id"]
            for table in rows.values()
            for row in table
            if isinstance(row.get("id"), uuid.UUID)
            and row["id"] not in found
            and found & uuids(row)
        }
        if not more:
            return found
        found |= more


async def dangling(app: Starlette) -> dict[str, int]:
    """Rows whose foreign key points at no row, per table and key (one query per key)."""
    found = {}
    async with app.state.engine.connect() as connection:
        for table in models.metadata.sorted_tables:
            for key in table.foreign_keys:
                # An alias: a key to its own table (a message's parent) is another row.
                target = key.column.table.alias().c[key.column.name]
                orphan = key.parent.is_not(None) & ~exists().where(target == key.parent)
                count = await connection.scalar(select(func.count()).where(orphan))
                if count:
                    found[f"{table.name}.{key.parent.name}"] = count
    return found


async def test_a_deleted_conversation_leaves_no_row_in_any_table(
    gql: GraphQLClient, app: Starlette
) -> None:
    doomed = await rich_conversation(gql, "doomed")
    kept = await rich_conversation(gql, "kept")
    before = await table_rows(app)
    ids = owned_ids(before, raw(doomed["conversation"]))
    assert {"messages", "tool_calls", "spans", "span_component_versions", "events"} <= set(
        mentioning(before, ids)
    )
    result = (await gql.data(DELETE, {"id": doomed["conversation"]}))["deleteConversation"]
    assert result == {"deletedId": doomed["conversation"], "title": "doomed"}
    # Its roll-up rows net to nothing: the sweeper's compaction removes them.
    while await compact(app.state.database.sessions):
        pass
    while await score_rollups.compact(app.state.database.sessions):
        pass
    after = await table_rows(app)
    assert mentioning(after, ids) == {}
    assert await dangling(app) == {}
    # Everything else is as it was: the other conversation, and the shared versions.
    for name, table in before.items():
        untouched = [row for row in table if not ids & uuids(row)]
        if name not in {"conversations", *DERIVED}:
            assert after[name] == untouched, name
    assert len(after["component_versions"]) == 1
    node = await gql.data("query($id: ID!) { node(id: $id) { id } }", {"id": kept["version"]})
    assert node["node"] == {"id": kept["version"]}
    assert await gql.error_code(DELETE, {"id": doomed["conversation"]}) == "NOT_FOUND"


async def test_a_long_chain_of_replies_is_deleted_on_every_database(
    gql: GraphQLClient, app: Starlette
) -> None:
    # SQLite runs cascades as nested triggers and stops at 1000 levels: 1200 replies,
    # each to the one before, are deeper than that.
    conv = (await factories.conversation(gql))["id"]
    conversation_id, now = raw(conv), utcnow()
    ids = [uuid.uuid4() for _ in range(1200)]
    rows: list[dict[str, Any]] = [
        {
            "id": message_id,
            "conversation_id": conversation_id,
            "seq": seq,
            "parent_message_id": ids[seq - 2] if seq > 1 else None,
            "sender_id": "user-1",
            "sender_type": "USER",
            "role": "USER",
            "content": "",
            "parts": [],
            "status": "COMPLETE",
            "input_tokens": 0,
            "output_tokens": 0,
            "total_tokens": 0,
            "cost": 0.0,
            "attachments": [],
            "metadata": {},
            "created_at": now,
            "updated_at": now,
        }
        for seq, message_id in enumerate(ids, start=1)
    ]
    async with app.state.engine.begin() as connection:
        await connection.execute(insert(models.Message.__table__), rows)  # type: ignore[attr-defined]
    await gql.data(DELETE, {"id": conv})
    assert (await table_rows(app))["messages"] == []


async def test_only_who_may_write_it_deletes_a_conversation(
    secured_http: httpx.AsyncClient,
) -> None:
    ada = as_user(secured_http, "ada")
    conv = (
        await factories.conversation(
            ada,
            owner={"participantId": "ada"},
            participants=[{"participantId": "obs", "role": "OBSERVER"}],
        )
    )["id"]
    assert await as_user(secured_http, "bob").error_code(DELETE, {"id": conv}) == "NOT_FOUND"
    assert await as_user(secured_http, "obs").error_code(DELETE, {"id": conv}) == "FORBIDDEN"
    title = "query($id: ID!) { conversation(id: $id) { id } }"
    assert (await ada.data(title, {"id": conv}))["conversation"] == {"id": conv}
    await ada.data(DELETE, {"id": conv})
    assert (await ada.data(title, {"id": conv}))["conversation"] is None


async def test_ids_of_the_wrong_kind_are_bad_input(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    message = (await factories.message(gql, conv))["id"]
    assert await gql.error_code(DELETE, {"id": message}) == "BAD_USER_INPUT"
    assert await gql.error_code(DELETE, {"id": "nonsense"}) == "BAD_USER_INPUT"
    assert await gql.error_code(DELETE_MESSAGE, {"id": conv}) == "BAD_USER_INPUT"
    unknown = to_global_id("Message", uuid.uuid4())
    assert await gql.error_code(DELETE_MESSAGE, {"id": unknown}) == "NOT_FOUND"


EVENTS = """subscription($c: ID!) { conversationEvents(conversationId: $c) {
  kind seq ... on ConversationDeletedEvent { conversation { id title messageCount } }
  ... on MessagesDeletedEvent { messageIds } } }"""


async def test_subscribers_get_a_last_event_and_completion(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv = (await factories.conversation(gql, title="going"))["id"]
    await factories.message(gql, conv)
    streaming = (await factories.message(gql, conv, status="STREAMING"))["id"]
    op = await ws.subscribe(EVENTS, {"c": conv})
    stream = await ws.subscribe(
        "subscription($m: ID!) { messageStream(messageId: $m) { kind } }", {"m": streaming}
    )
    await asyncio.sleep(0.2)  # let the subscriptions open before writing
    await factories.message(gql, conv)
    got = await ws.next(op)
    await gql.data(DELETE, {"id": conv})
    last = (await ws.next(op))["conversationEvents"]
    assert last == {
        "kind": "CONVERSATION_DELETED",
        "seq": got["conversationEvents"]["seq"] + 1,
        "conversation": {"id": conv, "title": "going", "messageCount": 3},
    }
    assert (await ws.message(op))["type"] == "complete"
    # A message's stream ends too, though it selected other kinds of events.
    assert await ws.next(stream) == {"messageStream": {"kind": "CONVERSATION_DELETED"}}
    assert (await ws.message(stream))["type"] == "complete"


async def test_deleting_a_message_deletes_its_replies_and_keeps_totals(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    graph = await rich_conversation(gql)
    conv = graph["conversation"]
    first, second, edited, third = graph["messages"]
    parents = await gql.data(
        "query($c: ID!) { conversation(id: $c) { messages(allBranches: true) { "
        "nodes { id parent { id } } } } }",
        {"c": conv},
    )
    below = {second}
    for node in parents["conversation"]["messages"]["nodes"]:  # in sequence order
        if node["parent"] and node["parent"]["id"] in below:
            below.add(node["id"])
    assert third in below
    assert len(below) == 3  # and the agent's question, a reply to the third
    op = await ws.subscribe(EVENTS, {"c": conv})
    await asyncio.sleep(0.2)  # let the subscription open before writing
    before = (await gql.data(TOTALS, {"c": conv}))["conversation"]
    result = (await gql.data(DELETE_MESSAGE, {"id": second}))["deleteMessage"]
    assert set(result["deletedIds"]) == below
    state = (await gql.data(TOTALS, {"c": conv}))["conversation"]
    left = state["all"]["nodes"]
    assert {m["id"] for m in left} >= {first, edited}
    assert not below & {m["id"] for m in left}
    # The spans stay (and count); the deleted messages no longer do.
    gone = [m for m in before["all"]["nodes"] if m["id"] in below]
    usage = (await gql.data(USAGE, {"c": [conv]}))["usage"][0]
    for total in ("inputTokens", "outputTokens", "totalTokens", "cost"):
        assert state[total] == usage[total], total
        removed = sum(m[total] for m in gone)
        assert state[total] == pytest.approx(before[total] - removed), total
    assert state["messageCount"] == len(left)
    assert {k: v for k, v in state.items() if k not in ("all", "messages")} == result[
        "conversation"
    ]
    # The latest message went: the default branch now ends at the latest one left.
    assert state["messages"]["nodes"][-1]["id"] == left[-1]["id"]
    event = (await ws.next(op))["conversationEvents"]
    assert event["kind"] == "MESSAGES_DELETED"
    assert set(event["messageIds"]) == below


async def test_messages_of_a_closed_conversation_stay(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    message = (await factories.message(gql, conv))["id"]
    await gql.data("mutation($id: ID!) { closeConversation(id: $id) { id } }", {"id": conv})
    assert await gql.error_code(DELETE_MESSAGE, {"id": message}) == "CONFLICT"
    assert (await gql.data(TOTALS, {"c": conv}))["conversation"]["messageCount"] == 1
