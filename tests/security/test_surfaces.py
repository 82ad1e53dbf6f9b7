"""Every mutation, root field and subscription, played by a stranger and an observer.

The tables below hold one attack per surface of the schema; a test holds them equal to
the schema, so a surface added later without an attack here fails the suite. A refused
attack changes nothing the owner sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from config import Settings
from schema import build_schema
from tests import factories
from tests.identities import bearer, new_key, token
from tests.security.world import World, build, owner_view
from tests.ws_client import connect


@dataclass
class Rows:
    """alice's rows beyond the world's: what every attack aims at."""

    plan: str
    steps: list[str]
    trace: str
    span: str
    score: str
    version: str
    version_hash: str
    key: str
    streaming: str
    tool_call: str


START_SESSION = """
mutation($c: ID!) {
  startAgentSession(input: {conversationId: $c, profileName: "alice-bot"}) { id }
}"""
# Routed, so that `routeStats` has alice's decision to keep from others.
STREAMING = """
mutation($c: ID!) {
  sendMessage(input: {conversationId: $c, senderId: "alice-bot", senderType: AGENT,
                      role: ASSISTANT, status: STREAMING, content: "thinking",
                      routingDecision: {route: "agent", agent: "alice-bot"}}) { id }
}"""
TOOL_START = """
mutation($m: ID!) {
  reportToolStart(input: {messageId: $m, callId: "c1", toolName: "search"}) { id }
}"""
LINK = """
mutation($s: ID!, $v: ID!) {
  linkSpanComponentVersions(spanId: $s, componentVersionIds: [$v]) { id }
}"""
SCORE = """
mutation($m: ID!) { addScore(input: {targetId: $m, name: "ok", kind: BOOLEAN, value: 1}) { id } }
"""


async def _rows(world: World) -> Rows:
    alice, c = world["alice"], world.conversation
    plan = await factories.plan(alice, c, [[], [0]], fields="id steps { id }")
    trace = await factories.trace(alice, c)
    span = await factories.span(alice, trace["id"])
    version = await factories.component_version(
        alice, "alice-prompt", {"text": "hi"}, fields="id contentHash"
    )
    await alice.data(LINK, {"s": span["id"], "v": version["id"]})
    score = (await alice.data(SCORE, {"m": world.messages["alice"]}))["addScore"]["id"]
    _, key = await new_key(alice, ["READ"])
    await world.alice_bot.data(START_SESSION, {"c": c})
    streaming = (await world.alice_bot.data(STREAMING, {"c": c}))["sendMessage"]["id"]
    call = (await world.alice_bot.data(TOOL_START, {"m": streaming}))["reportToolStart"]["id"]
    steps = [step["id"] for step in plan["steps"]]
    return Rows(
        plan=plan["id"],
        steps=steps,
        trace=trace["id"],
        span=span["id"],
        score=score,
        version=version["id"],
        version_hash=version["contentHash"],
        key=key,
        streaming=streaming,
        tool_call=call,
    )


Vars = Callable[[World, Rows], dict[str, Any]]


@dataclass(frozen=True)
class Attack:
    document: str
    variables: Vars
    stranger: str | None  # the code carol gets (None: it succeeds, harmlessly)
    observer: str | None  # the code erin gets


def conversation_id(world: World, _rows: Rows) -> dict[str, Any]:
    return {"c": world.conversation}


MUTATIONS: dict[str, Attack] = {
    "addScore": Attack(SCORE, lambda w, r: {"m": w.messages["alice"]}, "NOT_FOUND", "FORBIDDEN"),
    "updateScore": Attack(
        'mutation($id: ID!) { updateScore(id: $id, input: {comment: "mine"}) { id } }',
        lambda w, r: {"id": r.score},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "deleteScore": Attack(
        "mutation($id: ID!) { deleteScore(id: $id) { id } }",
        lambda w, r: {"id": r.score},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "setConversationMemory": Attack(
        'mutation($c: ID!) { setConversationMemory(conversationId: $c, summary: "x") { id } }',
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "deleteConversation": Attack(
        "mutation($c: ID!) { deleteConversation(id: $c) { deletedId } }",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "deleteMessage": Attack(
        "mutation($m: ID!) { deleteMessage(id: $m) { deletedIds } }",
        lambda w, r: {"m": w.messages["alice"]},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    # A fork is the owner's (with the same participants): observers may not add to
    # their list.
    "forkConversation": Attack(
        "mutation($m: ID!) { forkConversation(fromMessageId: $m) { id } }",
        lambda w, r: {"m": w.messages["alice"]},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    # A document claiming alice as its owner is not the caller's to import.
    "importConversation": Attack(
        "mutation($d: JSON!) { importConversation(document: $d, remapIds: true) { id } }",
        lambda w, r: {"d": w.export},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "ingest": Attack(
        """mutation($c: ID!) { ingest(batch: [{clientEventId: "e1",
             message: {conversationId: $c, senderId: "alice", content: "x"}}]) {
             error { code } } }""",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "createConversation": Attack(
        'mutation { createConversation(input: {owner: {participantId: "alice"}}) { id } }',
        lambda w, r: {},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "updateConversation": Attack(
        'mutation($c: ID!) { updateConversation(id: $c, input: {title: "mine"}) { id } }',
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "archiveConversation": Attack(
        "mutation($c: ID!) { archiveConversation(id: $c) { id } }",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "restoreConversation": Attack(
        "mutation($c: ID!) { restoreConversation(id: $c) { id } }",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "closeConversation": Attack(
        "mutation($c: ID!) { closeConversation(id: $c) { id } }",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "addParticipant": Attack(
        """mutation($c: ID!) {
             addParticipant(conversationId: $c, participant: {participantId: "carol"}) { id } }""",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "setParticipantRole": Attack(
        """mutation($c: ID!) { setParticipantRole(conversationId: $c, participantId: "erin",
             role: MEMBER) { id } }""",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "removeParticipant": Attack(
        """mutation($c: ID!) {
             removeParticipant(conversationId: $c, participantId: "bob") { id } }""",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "sendMessage": Attack(
        """mutation($c: ID!, $s: String!) {
             sendMessage(input: {conversationId: $c, senderId: $s, content: "x"}) { id } }""",
        lambda w, r: {"c": w.conversation, "s": "erin"},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "editMessage": Attack(
        'mutation($m: ID!) { editMessage(input: {messageId: $m, content: "x"}) { id } }',
        lambda w, r: {"m": w.messages["erin"]},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "createPlan": Attack(
        """mutation($c: ID!) { createPlan(input: {conversationId: $c, title: "p",
             steps: [{description: "s"}]}) { id } }""",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "updateStepStatus": Attack(
        """mutation($s: ID!) {
             updateStepStatus(input: {stepId: $s, status: RUNNING}) { id } }""",
        lambda w, r: {"s": r.steps[0]},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "addStepDependency": Attack(
        """mutation($a: ID!, $b: ID!) {
             addStepDependency(stepId: $a, dependsOnStepId: $b) { id } }""",
        lambda w, r: {"a": r.steps[0], "b": r.steps[1]},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "setPlanStatus": Attack(
        "mutation($p: ID!) { setPlanStatus(planId: $p, status: CANCELLED) { id } }",
        lambda w, r: {"p": r.plan},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "startTrace": Attack(
        "mutation($c: ID!) { startTrace(input: {conversationId: $c}) { id } }",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "endTrace": Attack(
        "mutation($t: ID!) { endTrace(input: {traceId: $t}) { id } }",
        lambda w, r: {"t": r.trace},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "startSpan": Attack(
        'mutation($t: ID!) { startSpan(input: {traceId: $t, name: "x"}) { id } }',
        lambda w, r: {"t": r.trace},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "endSpan": Attack(
        "mutation($s: ID!) { endSpan(input: {spanId: $s}) { id } }",
        lambda w, r: {"s": r.span},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "linkSpanComponentVersions": Attack(
        """mutation($s: ID!, $v: ID!) {
             linkSpanComponentVersions(spanId: $s, componentVersionIds: [$v]) { id } }""",
        lambda w, r: {"s": r.span, "v": r.version},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "registerComponentVersion": Attack(
        """mutation { registerComponentVersion(input: {componentKey: "alice-prompt",
             type: PROMPT, definition: {text: "mine"}}) { id } }""",
        lambda w, r: {},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "updateComponentVersion": Attack(
        """mutation($v: ID!) {
             updateComponentVersion(id: $v, input: {versionName: "mine"}) { id } }""",
        lambda w, r: {"v": r.version},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "deprecateComponentVersion": Attack(
        'mutation($v: ID!) { deprecateComponentVersion(id: $v, reason: "mine") { id } }',
        lambda w, r: {"v": r.version},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "undeprecateComponentVersion": Attack(
        "mutation($v: ID!) { undeprecateComponentVersion(id: $v) { id } }",
        lambda w, r: {"v": r.version},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "createApiKey": Attack(
        """mutation { createApiKey(input: {name: "k", scopes: [READ], agentId: "alice-bot"}) {
             secret } }""",
        lambda w, r: {},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "registerAgent": Attack(
        'mutation { registerAgent(agentId: "alice-bot", name: "mine") { agentId } }',
        lambda w, r: {},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "revokeApiKey": Attack(
        "mutation($k: ID!) { revokeApiKey(id: $k) { id } }",
        lambda w, r: {"k": r.key},
        "NOT_FOUND",
        "NOT_FOUND",
    ),
    "upsertChatSettings": Attack(
        'mutation { upsertChatSettings(userId: "alice", input: {model: "x"}) { userId } }',
        lambda w, r: {},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "setModelPrice": Attack(
        'mutation { setModelPrice(userId: "alice", input: {model: "gpt-4o", inputPerMillion: 0,'
        " outputPerMillion: 0}) { id } }",
        lambda w, r: {},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "deleteModelPrice": Attack(
        'mutation { deleteModelPrice(userId: "alice", model: "gpt-4o") { id } }',
        lambda w, r: {},
        "FORBIDDEN",
        "FORBIDDEN",
    ),
    "startAgentSession": Attack(START_SESSION, conversation_id, "NOT_FOUND", "FORBIDDEN"),
    "appendAnswerChunk": Attack(
        'mutation($m: ID!) { appendAnswerChunk(input: {messageId: $m, text: "x"}) { id } }',
        lambda w, r: {"m": r.streaming},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "reportThought": Attack(
        'mutation($m: ID!) { reportThought(input: {messageId: $m, text: "x"}) { id } }',
        lambda w, r: {"m": r.streaming},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "reportToolStart": Attack(
        """mutation($m: ID!) {
             reportToolStart(input: {messageId: $m, callId: "c2", toolName: "x"}) { id } }""",
        lambda w, r: {"m": r.streaming},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "reportToolEnd": Attack(
        'mutation($t: ID!) { reportToolEnd(input: {toolCallId: $t, result: "x"}) { id } }',
        lambda w, r: {"t": r.tool_call},
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "askUser": Attack(
        'mutation($c: ID!) { askUser(input: {conversationId: $c, question: "x"}) { id } }',
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "answerAgent": Attack(
        """mutation($c: ID!) {
             answerAgent(input: {conversationId: $c, answer: "x", senderId: "erin"}) { id } }""",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "completeRun": Attack(
        "mutation($c: ID!) { completeRun(input: {conversationId: $c}) { id } }",
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
    "failRun": Attack(
        'mutation($c: ID!) { failRun(input: {conversationId: $c, error: "x"}) { id } }',
        conversation_id,
        "NOT_FOUND",
        "FORBIDDEN",
    ),
}


def _code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors")
    if errors:
        code: str = errors[0]["extensions"]["code"]
        return code
    ingested = (body.get("data") or {}).get("ingest")
    if ingested and ingested[0]["error"]:
        code = ingested[0]["error"]["code"]
        return code
    return None


def _root_fields(root: str) -> set[str]:
    root_type = getattr(build_schema(Settings())._schema, f"{root}_type")
    return set(root_type.fields)


def test_every_mutation_has_an_attack() -> None:
    assert set(MUTATIONS) == _root_fields("mutation")


@pytest.fixture
async def world(secured_http: httpx.AsyncClient) -> tuple[World, Rows]:
    world = await build(secured_http)
    rows = await _rows(world)
    export = "query($c: ID!) { conversationExport(id: $c) }"
    world.export = (await world["alice"].data(export, {"c": world.conversation}))[
        "conversationExport"
    ]
    return world, rows


@pytest.mark.parametrize("caller", ["stranger", "observer"])
@pytest.mark.parametrize("name", sorted(MUTATIONS))
async def test_a_mutation_played_against_alice(
    world: tuple[World, Rows], name: str, caller: str
) -> None:
    the_world, rows = world
    attack = MUTATIONS[name]
    user = "carol" if caller == "stranger" else "erin"
    expected = attack.stranger if caller == "stranger" else attack.observer
    before = await owner_view(the_world)
    body = await the_world[user].execute(attack.document, attack.variables(the_world, rows))
    assert _code(body) == expected, body
    if expected is not None:
        assert await owner_view(the_world) == before


# What carol, a stranger, gets from each root field asked about alice's rows: nothing of
# hers (component versions aside, which are shared unless private), or an error code.
QUERIES: dict[str, tuple[str, Vars, Any]] = {
    "scoreSummary": ("{ scoreSummary { name count } }", lambda w, r: {}, {"scoreSummary": []}),
    "contextWindow": (
        "query($c: ID!) { contextWindow(conversationId: $c) { tokenCount } }",
        conversation_id,
        "NOT_FOUND",
    ),
    "search": (
        '{ search(query: "here") { edges { node { snippet } } } }',
        lambda w, r: {},
        {"search": {"edges": []}},
    ),
    "usage": (
        "{ usage { count totalTokens } }",
        lambda w, r: {},
        {"usage": [{"count": 0, "totalTokens": 0}]},
    ),
    "conversationExport": (
        "query($c: ID!) { conversationExport(id: $c) }",
        conversation_id,
        {"conversationExport": None},
    ),
    "conversationMarkdown": (
        "query($c: ID!) { conversationMarkdown(id: $c) }",
        conversation_id,
        {"conversationMarkdown": None},
    ),
    "spans": ("{ spans { totalCount } }", lambda w, r: {}, {"spans": {"totalCount": 0}}),
    # alice's conversation named outright: nothing, as for a conversation that is not there.
    "toolCalls": (
        "query($c: ID!) { toolCalls(filter: {conversationIds: [$c]}) { totalCount nodes { id } }"
        " all: toolCalls { totalCount } }",
        conversation_id,
        {"toolCalls": {"totalCount": 0, "nodes": []}, "all": {"totalCount": 0}},
    ),
    # alice's agent session (ACTIVE): neither listed nor counted for carol.
    "agentSessions": (
        "{ agentSessions { totalCount nodes { id } } }",
        lambda w, r: {},
        {"agentSessions": {"totalCount": 0, "nodes": []}},
    ),
    "agentSessionStats": (
        "{ agentSessionStats { agentId sessions } }",
        lambda w, r: {},
        {"agentSessionStats": []},
    ),
    "routeStats": (
        '{ routeStats(agent: "alice-bot") { route messages share } }',
        lambda w, r: {},
        {"routeStats": []},
    ),
    "viewer": ("{ viewer { userId } }", lambda w, r: {}, {"viewer": {"userId": "carol"}}),
    "agents": ("{ agents { agentId } }", lambda w, r: {}, {"agents": []}),
    "apiKeys": ("{ apiKeys { id } }", lambda w, r: {}, {"apiKeys": []}),
    "node": (
        "query($m: ID!) { node(id: $m) { id } }",
        lambda w, r: {"m": w.messages["alice"]},
        {"node": None},
    ),
    "nodes": (
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        lambda w, r: {"ids": [w.conversation, r.plan, r.span, r.tool_call, r.score]},
        {"nodes": [None] * 5},
    ),
    "conversation": (
        "query($c: ID!) { conversation(id: $c) { id } }",
        conversation_id,
        {"conversation": None},
    ),
    "conversations": (
        "{ conversations { totalCount } }",
        lambda w, r: {},
        {"conversations": {"totalCount": 0}},
    ),
    "message": (
        "query($m: ID!) { message(id: $m) { id } }",
        lambda w, r: {"m": w.messages["alice"]},
        {"message": None},
    ),
    "plan": ("query($p: ID!) { plan(id: $p) { id } }", lambda w, r: {"p": r.plan}, {"plan": None}),
    "trace": (
        "query($t: ID!) { trace(id: $t) { id } }",
        lambda w, r: {"t": r.trace},
        {"trace": None},
    ),
    "traces": ("{ traces { totalCount } }", lambda w, r: {}, {"traces": {"totalCount": 0}}),
    "span": ("query($s: ID!) { span(id: $s) { id } }", lambda w, r: {"s": r.span}, {"span": None}),
    # Shared by design: the version is there, its spans (alice's) are not.
    "components": (
        "{ components { totalCount } }",
        lambda w, r: {},
        {"components": {"totalCount": 1}},
    ),
    "component": (
        '{ component(key: "alice-prompt") { key versions { spans { totalCount } } } }',
        lambda w, r: {},
        {"component": {"key": "alice-prompt", "versions": [{"spans": {"totalCount": 0}}]}},
    ),
    "componentVersion": (
        'query($h: String!) { componentVersion(componentKey: "alice-prompt", hash: $h) {'
        " spans { totalCount } } }",
        lambda w, r: {"h": r.version_hash},
        {"componentVersion": {"spans": {"totalCount": 0}}},
    ),
    "chatSettings": ('{ chatSettings(userId: "alice") { model } }', lambda w, r: {}, "FORBIDDEN"),
    "modelPrices": ('{ modelPrices(userId: "alice") { id } }', lambda w, r: {}, "FORBIDDEN"),
    "modelPrice": (
        '{ modelPrice(userId: "alice", model: "gpt-4o") { id } }',
        lambda w, r: {},
        "FORBIDDEN",
    ),
}


def test_every_root_field_has_an_attack() -> None:
    assert set(QUERIES) == _root_fields("query")


@pytest.mark.parametrize("name", sorted(QUERIES))
async def test_a_root_field_asked_by_a_stranger(world: tuple[World, Rows], name: str) -> None:
    the_world, rows = world
    document, variables, expected = QUERIES[name]
    body = await the_world["carol"].execute(document, variables(the_world, rows))
    if isinstance(expected, str):
        assert _code(body) == expected, body
    else:
        assert body == {"data": expected}


# Each subscription, asked by carol about alice's rows: refused (NOT_FOUND), or, for the
# live list, open but silent while alice's conversation changes.
SUBSCRIPTIONS: dict[str, tuple[str, Vars]] = {
    "conversationEvents": (
        "subscription($c: ID!) { conversationEvents(conversationId: $c) { kind } }",
        conversation_id,
    ),
    "messageStream": (
        "subscription($m: ID!) { messageStream(messageId: $m) { kind } }",
        lambda w, r: {"m": r.streaming},
    ),
    "traceEvents": (
        "subscription($t: ID!) { traceEvents(traceId: $t) { kind } }",
        lambda w, r: {"t": r.trace},
    ),
    "conversationsActivity": ("subscription { conversationsActivity { kind } }", lambda w, r: {}),
}


def test_every_subscription_has_an_attack() -> None:
    assert set(SUBSCRIPTIONS) == _root_fields("subscription")


@pytest.mark.parametrize("name", sorted(SUBSCRIPTIONS))
async def test_a_subscription_asked_by_a_stranger(
    world: tuple[World, Rows], secured_server_url: str, name: str
) -> None:
    the_world, rows = world
    document, variables = SUBSCRIPTIONS[name]
    async with connect(secured_server_url, bearer(token("carol"))) as ws:
        op = await ws.subscribe(document, variables(the_world, rows))
        if name != "conversationsActivity":
            message = await ws.message(op)
            assert message["type"] in {"error", "next"}, message
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] == "NOT_FOUND"
            return
        # Whatever alice does now is hers alone.
        await factories.message(the_world["alice"], the_world.conversation, senderId="alice")
        await the_world["alice"].data(
            'mutation($c: ID!) { updateConversation(id: $c, input: {title: "t"}) { id } }',
            {"c": the_world.conversation},
        )
        await ws.nothing_more(op, wait=1.0)
