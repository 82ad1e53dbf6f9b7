"""What a review of the first fixes found, each as its own test: growing or ending other
people's messages, replies deleted with one's own message, imports that speak for others
or tell which ids exist, private component versions seen through spans and exports."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest

from tests import factories
from tests.security.world import World, build, code_of

STREAMING = """
mutation($c: ID!) {
  sendMessage(input: {conversationId: $c, senderId: "alice", status: STREAMING,
                      content: "I, alice, say: "}) { id }
}"""
GROW = {
    "appendAnswerChunk": """mutation($m: ID!) {
        appendAnswerChunk(input: {messageId: $m, text: "I resign."}) { id } }""",
    "reportThought": """mutation($m: ID!) {
        reportThought(input: {messageId: $m, text: "hm"}) { id } }""",
    "reportToolStart": """mutation($m: ID!) {
        reportToolStart(input: {messageId: $m, callId: "c1", toolName: "rm"}) { id } }""",
}
FAIL_RUN = """
mutation($c: ID!, $m: ID!) { failRun(input: {conversationId: $c, messageId: $m, error: "x"}) {
  id } }"""
MESSAGE = "query($m: ID!) { message(id: $m) { content thinking status toolCalls { id } } }"
EXPORT = "query($c: ID!) { conversationExport(id: $c) }"
IMPORT = """
mutation($d: JSON!, $remap: Boolean!) {
  importConversation(document: $d, remapIds: $remap) { id participants { participantId active } }
}"""


@pytest.fixture
async def world(secured_http: httpx.AsyncClient) -> World:
    return await build(secured_http)


async def test_a_member_cannot_grow_or_end_another_participants_message(world: World) -> None:
    alice, bob = world["alice"], world["bob"]
    m = (await alice.data(STREAMING, {"c": world.conversation}))["sendMessage"]["id"]
    before = await alice.data(MESSAGE, {"m": m})
    for document in GROW.values():
        assert await code_of(bob, document, {"m": m}) == "FORBIDDEN"
    assert await code_of(bob, FAIL_RUN, {"c": world.conversation, "m": m}) == "FORBIDDEN"
    assert await alice.data(MESSAGE, {"m": m}) == before
    # Its sender may.
    assert await code_of(alice, GROW["appendAnswerChunk"], {"m": m}) is None


async def test_deleting_your_message_does_not_take_others_replies(world: World) -> None:
    bob, erin_id = world["bob"], world.messages["erin"]
    # erin's message replied to bob's (each message answers the one before by default).
    reply = "query($m: ID!) { message(id: $m) { parent { id } } }"
    assert (await bob.data(reply, {"m": erin_id}))["message"]["parent"] == {
        "id": world.messages["bob"]
    }
    delete = "mutation($m: ID!) { deleteMessage(id: $m) { deletedIds } }"
    assert await code_of(bob, delete, {"m": world.messages["bob"]}) == "FORBIDDEN"
    assert (await world["alice"].data(reply, {"m": erin_id}))["message"] is not None


async def _export(world: World) -> Any:
    return (await world["alice"].data(EXPORT, {"c": world.conversation}))["conversationExport"]


async def test_an_import_is_the_importers_record(world: World) -> None:
    """carol imports a document naming alice and bob: it lands in no list of theirs, and
    an agent it names gives nobody who registers it later any access."""
    forged = copy.deepcopy(await _export(world))
    forged["tables"]["conversations"][0].update(owner_id="carol", title="alice's confession")
    imported = (await world["carol"].data(IMPORT, {"d": forged, "remap": True}))[
        "importConversation"
    ]
    active = {p["participantId"]: p["active"] for p in imported["participants"]}
    assert active == {"alice": False, "bob": False, "erin": False, "alice-bot": False}
    for user in ("alice", "bob"):
        titles = "{ conversations { edges { node { title } } } }"
        found = await world[user].data(titles)
        assert {"node": {"title": "alice's confession"}} not in found["conversations"]["edges"]
    node = "query($c: ID!) { conversation(id: $c) { id } }"
    assert (await world.alice_bot.data(node, {"c": imported["id"]}))["conversation"] is None


async def test_import_ids_of_rows_one_cannot_see_are_not_found(world: World) -> None:
    """Keeping ids (remapIds: false) that alice's rows hold tells carol nothing."""
    document = copy.deepcopy(await _export(world))
    conversation = str(uuid.uuid4())
    for rows in document["tables"].values():
        for row in rows:
            if row.get("conversation_id"):
                row["conversation_id"] = conversation
    document["tables"]["conversations"][0].update(id=conversation, owner_id="carol")
    variables = {"d": document, "remap": False}
    assert await code_of(world["carol"], IMPORT, variables) == "NOT_FOUND"
    # alice, who sees those rows, is told they are in use.
    document["tables"]["conversations"][0]["owner_id"] = "alice"
    assert await code_of(world["alice"], IMPORT, variables) == "CONFLICT"


PRIVATE = """
mutation($key: String!, $type: ComponentType!) {
  registerComponentVersion(input: {componentKey: $key, type: $type,
    definition: {prompt: "TOP SECRET"}, private: true}) { id }
}"""
LINK = """
mutation($s: ID!, $v: ID!) {
  linkSpanComponentVersions(spanId: $s, componentVersionIds: [$v]) { id }
}"""


async def test_private_versions_stay_out_of_spans_and_exports(world: World) -> None:
    alice, bob = world["alice"], world["bob"]
    variables = {"key": "alice-secret", "type": "PROMPT"}
    version = (await alice.data(PRIVATE, variables))["registerComponentVersion"]["id"]
    trace = await factories.trace(alice, world.conversation)
    span = await factories.span(alice, trace["id"])
    await alice.data(LINK, {"s": span["id"], "v": version})
    read = "query($s: ID!) { span(id: $s) { componentVersions { definition } } }"
    assert (await alice.data(read, {"s": span["id"]}))["span"]["componentVersions"] != []
    assert (await bob.data(read, {"s": span["id"]}))["span"]["componentVersions"] == []
    exported = (await bob.data(EXPORT, {"c": world.conversation}))["conversationExport"]
    assert "TOP SECRET" not in str(exported)
    assert exported["tables"]["span_component_versions"] == []


async def test_a_private_components_type_does_not_leak(world: World) -> None:
    await world["alice"].data(PRIVATE, {"key": "alice-hidden", "type": "TOOL"})
    register = """
    mutation { registerComponentVersion(input: {componentKey: "alice-hidden", type: PROMPT,
      definition: {prompt: "mine"}}) { id } }"""
    assert await code_of(world["carol"], register, {}) == "NOT_FOUND"
