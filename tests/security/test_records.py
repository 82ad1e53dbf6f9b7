"""What a review of the first fixes found, each as its own test: growing or ending other
people's messages, replies deleted with one's own message, imports that speak for others
or tell which ids exist, private component versions seen through spans and exports."""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import httpx
import pytest

from resolvers.writes.api_keys import MAX_ACTIVE_KEYS
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


SCORE_SPAN = """
mutation($s: ID!, $v: Float!) {
  addScore(input: {targetId: $s, name: "quality", kind: NUMERIC, value: $v}) { id }
}"""


async def test_private_versions_are_no_group_in_aggregates(world: World) -> None:
    """bob sees alice's spans and their scores, but not her private version: it is no
    group of his in scoreSummary or usage (its spans count as using no version)."""
    alice, bob = world["alice"], world["bob"]
    version = (await alice.data(PRIVATE, {"key": "alice-secret", "type": "PROMPT"}))[
        "registerComponentVersion"
    ]["id"]
    trace = await factories.trace(alice, world.conversation)
    used = (await factories.span(alice, trace["id"]))["id"]
    plain = (await factories.span(alice, trace["id"]))["id"]
    await alice.data(LINK, {"s": used, "v": version})
    await alice.data(SCORE_SPAN, {"s": used, "v": 0.9})
    await alice.data(SCORE_SPAN, {"s": plain, "v": 0.1})
    summary = "{ scoreSummary(byComponentVersion: true) { count componentVersion { id } } }"
    usage = "{ usage(groupBy: [COMPONENT_VERSION]) { count componentVersion { id } } }"
    assert (await bob.data(summary))["scoreSummary"] == []
    assert (await bob.data(usage))["usage"] == [{"count": 2, "componentVersion": None}]
    mine = (await alice.data(usage))["usage"]
    assert {"count": 1, "componentVersion": {"id": version}} in mine


async def test_concurrent_key_creations_keep_to_the_limit(world: World) -> None:
    carol = world["carol"]
    create = 'mutation { createApiKey(input: {name: "k", scopes: [READ]}) { secret } }'
    answers = await asyncio.gather(*(carol.execute(create) for _ in range(MAX_ACTIVE_KEYS + 15)))
    codes = {_first_code(answer) for answer in answers}
    assert codes <= {None, "CONFLICT"}, codes
    keys = await carol.data("{ apiKeys { id } }")
    assert len(keys["apiKeys"]) == MAX_ACTIVE_KEYS


def _first_code(body: dict[str, Any]) -> str | None:
    return body["errors"][0]["extensions"]["code"] if body.get("errors") else None
