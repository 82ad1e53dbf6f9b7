"""Routing decisions (issue 19): a message sent with the decision that routed it and the
run answering it; the MESSAGE_ROUTED event; `routeStats`, counted by route; and the
same through `ingest`. Bad input writes nothing; nobody learns of runs, events or
counts of conversations they cannot see."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlmodel import col
from starlette.applications import Starlette

import models
import schema.compiled_reads as compiled
from resolvers.ids import from_global_id, to_global_id
from subscriptions.streams import decode_cursor, encode_cursor
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.identities import as_user, bearer, token
from tests.ws_client import GraphQLWebSocket, connect

ROUTED = """
fragment Routed on Message {
  id content
  routingDecision { route agent reason rule intent confidence metadata }
  run { __typename ... on Trace { id } ... on AgentSession { id profileName } }
}"""
SEND = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { ...Routed } }" + ROUTED
MESSAGES = (
    "query($c: ID!) { conversation(id: $c) { messageCount lastEventCursor "
    "messages(first: 50) { nodes { ...Routed } } } }" + ROUTED
)
NODE = "query($id: ID!) { node(id: $id) { ... on Message { ...Routed } } }" + ROUTED
EVENTS = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    kind
    ... on MessageEvent { message { id } }
    ... on MessageRoutedEvent {
      message { id content }
      routingDecision { route agent confidence metadata }
      run { __typename ... on Trace { id } ... on AgentSession { id } }
    }
  }
}"""
STATS = """query($after: DateTime, $before: DateTime, $agent: String) {
  routeStats(createdAfter: $after, createdBefore: $before, agent: $agent) {
    route messages share
  }
}"""
INGEST = """mutation($batch: [IngestItem!]!) {
  ingest(batch: $batch) { ok id error { code } }
}"""
START_SESSION = (
    "mutation($input: StartAgentSessionInput!) { startAgentSession(input: $input) { id } }"
)
DECISION = {
    "route": "  agent  ",
    "agent": "analyst",
    "reason": "needs the sales records",
    "rule": "data-questions",
    "intent": "sales_report",
    "confidence": 0.92,
    "metadata": {"router": "v2", "scores": [0.92, 0.05]},
}
STORED = {**DECISION, "route": "agent"}


async def send(gql: GraphQLClient, c: str, **input: Any) -> dict[str, Any]:
    input = {"conversationId": c, "senderId": "user-1", "content": "hello", **input}
    found: dict[str, Any] = (await gql.data(SEND, {"input": input}))["sendMessage"]
    return found


async def titled(gql: GraphQLClient, **input: Any) -> Any:
    """A conversation with a title: an untitled one takes its first user message's, which
    is one more event (CONVERSATION_UPDATED)."""
    return await factories.conversation(gql, title="routing", **input)


async def state(gql: GraphQLClient, c: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql.data(MESSAGES, {"c": c}))["conversation"]
    return found


async def test_a_message_keeps_its_decision_and_its_run(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, c))["id"]
    sent = await send(gql, c, content="how did sales do?", routingDecision=DECISION, runId=trace)
    assert sent["routingDecision"] == STORED  # the route trimmed
    assert sent["run"] == {"__typename": "Trace", "id": trace}
    plain = await send(gql, c, content="thanks")
    assert (plain["routingDecision"], plain["run"]) == (None, None)
    # Only the route is required; what was left out reads null, metadata {}.
    bare = await send(gql, c, routingDecision={"route": "model"})
    assert bare["routingDecision"] == {
        "route": "model",
        **dict.fromkeys(("agent", "reason", "rule", "intent", "confidence")),
        "metadata": {},
    }
    assert [m["routingDecision"] for m in (await state(gql, c))["messages"]["nodes"]] == [
        STORED,
        None,
        bare["routingDecision"],
    ]
    assert (await gql.data(NODE, {"id": sent["id"]}))["node"] == sent


async def test_the_run_may_be_an_agent_session(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    input = {"conversationId": c, "profileName": "agent-1"}
    session = (await gql.data(START_SESSION, {"input": input}))["startAgentSession"]["id"]
    sent = await send(gql, c, routingDecision={"route": "agent"}, runId=session)
    assert sent["run"] == {"__typename": "AgentSession", "id": session, "profileName": "agent-1"}


async def test_a_run_without_a_decision_is_kept_and_no_routing_is_announced(
    gql: GraphQLClient,
) -> None:
    c = (await titled(gql))["id"]
    trace = (await factories.trace(gql, c))["id"]
    before = (await state(gql, c))["lastEventCursor"]
    sent = await send(gql, c, runId=trace)
    assert (sent["routingDecision"], sent["run"]) == (None, {"__typename": "Trace", "id": trace})
    # One event, MESSAGE_CREATED: the cursor moved by one.
    after = (await state(gql, c))["lastEventCursor"]
    assert decode_cursor(after, _raw(c)) == decode_cursor(before, _raw(c)) + 1


async def test_a_deleted_run_reads_null(gql: GraphQLClient, app: Starlette) -> None:
    c = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, c))["id"]
    sent = await send(gql, c, routingDecision={"route": "agent"}, runId=trace)
    async with app.state.engine.begin() as connection:
        await connection.execute(delete(models.Trace).where(col(models.Trace.id) == _raw(trace)))
    found = (await gql.data(NODE, {"id": sent["id"]}))["node"]
    assert (found["run"], found["routingDecision"]["route"]) == (None, "agent")


async def test_a_forked_copy_leaves_the_routing_with_the_source(gql: GraphQLClient) -> None:
    """The routing was decided, and is counted, in the source; the run is the source's."""
    c = (await titled(gql))["id"]
    trace = (await factories.trace(gql, c))["id"]
    sent = await send(gql, c, routingDecision=DECISION, runId=trace)
    fork = "mutation($m: ID!) { forkConversation(fromMessageId: $m) { id } }"
    copy = (await gql.data(fork, {"m": sent["id"]}))["forkConversation"]["id"]
    [copied] = (await state(gql, copy))["messages"]["nodes"]
    assert (copied["routingDecision"], copied["run"]) == (None, None)
    assert (await gql.data(NODE, {"id": sent["id"]}))["node"] == sent
    assert (await gql.data(STATS))["routeStats"] == [
        {"route": "agent", "messages": 1, "share": 1.0}
    ]


def _raw(global_id: str) -> uuid.UUID:
    return from_global_id(global_id)[1]


BAD_DECISIONS = [
    ({"route": "agent", "confidence": 2}, "confidence"),
    ({"route": "agent", "confidence": -0.1}, "confidence"),
    ({"route": ""}, "route"),
    ({"route": "   "}, "route"),
    ({"route": "x" * 65}, "route"),
    ({"route": "agent", "agent": " "}, "agent"),
    ({"route": "agent", "intent": "i" * 256}, "intent"),
    ({"route": "agent", "metadata": [1, 2]}, "metadata"),
]


@pytest.mark.parametrize(("decision", "named"), BAD_DECISIONS)
async def test_a_bad_decision_is_refused_and_nothing_is_written(
    gql: GraphQLClient, decision: dict[str, Any], named: str
) -> None:
    c = (await factories.conversation(gql))["id"]
    before = await state(gql, c)
    input = {"conversationId": c, "senderId": "user-1", "routingDecision": decision}
    error = await gql.error(SEND, {"input": input})
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert f"routingDecision.{named}" in error["message"]
    assert await state(gql, c) == before


async def test_decision_metadata_is_bounded_as_every_json_input(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    deep: Any = 1
    for _ in range(100):
        deep = {"a": deep}
    decision = {"route": "agent", "metadata": deep}
    input = {"conversationId": c, "senderId": "user-1", "routingDecision": decision}
    assert await gql.error_code(SEND, {"input": input}) == "BAD_USER_INPUT"


async def test_a_route_of_64_characters_is_kept_trimmed(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    sent = await send(gql, c, routingDecision={"route": f" {'r' * 64} "})
    assert sent["routingDecision"]["route"] == "r" * 64


async def test_a_run_must_be_a_run_of_the_conversation(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    other = (await factories.conversation(gql))["id"]
    elsewhere = (await factories.trace(gql, other))["id"]
    message = (await send(gql, c))["id"]
    before = await state(gql, c)
    cases = [
        (elsewhere, "BAD_USER_INPUT", "belongs to another conversation"),
        (message, "BAD_USER_INPUT", "must be the id of a Trace or an AgentSession"),
        (c, "BAD_USER_INPUT", "must be the id of a Trace or an AgentSession"),
        ("not an id", "BAD_USER_INPUT", "is not a valid id"),
        (to_global_id("Trace", uuid.uuid4()), "NOT_FOUND", "does not exist"),
        (to_global_id("AgentSession", uuid.uuid4()), "NOT_FOUND", "does not exist"),
    ]
    for run_id, code, says in cases:
        input = {
            "conversationId": c,
            "senderId": "user-1",
            "routingDecision": {"route": "agent"},
            "runId": run_id,
        }
        error = await gql.error(SEND, {"input": input})
        assert (error["extensions"]["code"], says in error["message"]) == (code, True), error
    assert await state(gql, c) == before


async def test_runs_are_read_without_a_query_per_message(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    c = (await factories.conversation(gql))["id"]

    async def statements() -> int:
        sql.reset()
        await state(gql, c)
        return sql.count

    for _ in range(2):
        trace = (await factories.trace(gql, c))["id"]
        await send(gql, c, routingDecision={"route": "agent"}, runId=trace)
    few = await statements()
    for _ in range(4):
        trace = (await factories.trace(gql, c))["id"]
        await send(gql, c, routingDecision={"route": "agent"}, runId=trace)
    assert await statements() == few


PAGE = "query($c: ID!) { conversation(id: $c) { id messages { nodes { %s } } } }"


async def test_the_compiled_read_path_steps_aside_for_routing(
    gql: GraphQLClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page the compiled path answers (on PostgreSQL) is answered by the resolvers once
    it asks for routing, whose fields have resolvers; the same either way."""
    answered: list[bool] = []
    original = compiled.compiled_data

    async def watched(*args: Any) -> dict[str, Any] | None:
        data = await original(*args)
        answered.append(data is not None)
        return data

    monkeypatch.setattr(compiled, "compiled_data", watched)
    c = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, c))["id"]
    sent = await send(gql, c, routingDecision=DECISION, runId=trace)
    answered.clear()
    plain = (await gql.data(PAGE % "id content", {"c": c}))["conversation"]
    assert plain["messages"]["nodes"] == [{"id": sent["id"], "content": "hello"}]
    assert answered == [app.state.engine.dialect.name == "postgresql"]
    answered.clear()
    found = (await gql.data(PAGE % "...Routed" + ROUTED, {"c": c}))["conversation"]
    assert answered == [False]
    assert found["messages"]["nodes"] == [sent]


async def test_routing_is_announced_after_the_message_to_its_subscribers(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    c = (await titled(gql))["id"]
    trace = (await factories.trace(gql, c))["id"]
    op = await ws.subscribe(EVENTS, {"c": c, "after": (await state(gql, c))["lastEventCursor"]})
    sent = await send(gql, c, content="routed", routingDecision=DECISION, runId=trace)
    created, routed = [e["conversationEvents"] for e in await ws.collect(op, 2)]
    assert created == {"kind": "MESSAGE_CREATED", "message": {"id": sent["id"]}}
    assert routed == {
        "kind": "MESSAGE_ROUTED",
        "message": {"id": sent["id"], "content": "routed"},
        "routingDecision": {
            "route": "agent",
            "agent": "analyst",
            "confidence": 0.92,
            "metadata": DECISION["metadata"],
        },
        "run": {"__typename": "Trace", "id": trace},
    }
    # Live now: a message without a decision is only created.
    plain = await send(gql, c, content="plain")
    assert (await ws.next(op))["conversationEvents"]["message"] == {"id": plain["id"]}
    await ws.nothing_more(op)


def _errors(message: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    )
    return found


async def test_only_who_may_see_the_conversation_hears_its_routing(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    c = (
        await titled(
            alice, owner={"participantId": "alice"}, participants=[{"participantId": "bob"}]
        )
    )["id"]
    carol = as_user(secured_http, "carol")
    own = (await factories.conversation(carol, owner={"participantId": "carol"}))["id"]
    trace = (await factories.trace(alice, c))["id"]
    after = (await state(alice, c))["lastEventCursor"]
    async with (
        connect(secured_server_url, bearer(token("bob"))) as bob,
        connect(secured_server_url, bearer(token("carol"))) as stranger,
    ):
        heard = await bob.subscribe(EVENTS, {"c": c, "after": after})
        refused = await stranger.subscribe(EVENTS, {"c": c, "after": after})
        [error] = _errors(await stranger.message(refused))
        assert error["extensions"]["code"] == "NOT_FOUND"
        # carol's own conversation, followed from its start, hears only its own events.
        watched = await stranger.subscribe(EVENTS, {"c": own, "after": encode_cursor(_raw(own), 0)})
        assert (await stranger.next(watched))["conversationEvents"]["kind"] == (
            "CONVERSATION_CREATED"
        )
        sent = await send(alice, c, senderId="alice", routingDecision=DECISION, runId=trace)
        kinds = [e["conversationEvents"]["kind"] for e in await bob.collect(heard, 2)]
        assert kinds == ["MESSAGE_CREATED", "MESSAGE_ROUTED"]
        await stranger.nothing_more(watched)
    # Nor can she read the message, its decision or its run.
    assert (await carol.data(NODE, {"id": sent["id"]}))["node"] is None


async def test_a_stranger_cannot_name_someone_elses_run(secured_http: httpx.AsyncClient) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    c = (await factories.conversation(alice, owner={"participantId": "alice"}))["id"]
    trace = (await factories.trace(alice, c))["id"]
    own = (await factories.conversation(carol, owner={"participantId": "carol"}))["id"]
    before = await state(carol, own)
    input = {"conversationId": own, "senderId": "carol", "runId": trace}
    # As for a trace that does not exist: she does not learn it does, nor where.
    error = await carol.error(SEND, {"input": input})
    assert error["extensions"]["code"] == "NOT_FOUND"
    missing = {**input, "runId": to_global_id("Trace", uuid.uuid4())}
    assert (await carol.error(SEND, {"input": missing}))["extensions"]["code"] == "NOT_FOUND"
    assert await state(carol, own) == before


async def test_route_stats_count_and_share_the_routes(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    early = await send(gql, c, routingDecision={"route": "tool"})
    late = [
        await send(gql, c, routingDecision={"route": "agent", "agent": "analyst"}),
        await send(gql, c, routingDecision={"route": "agent", "agent": "analyst"}),
        await send(gql, c, routingDecision={"route": "agent", "agent": "writer"}),
        await send(gql, c, routingDecision={"route": "model"}),
        await send(gql, c),  # no decision: not counted
    ]
    everything = (await gql.data(STATS))["routeStats"]
    assert everything == [
        {"route": "agent", "messages": 3, "share": 0.6},
        {"route": "model", "messages": 1, "share": 0.2},
        {"route": "tool", "messages": 1, "share": 0.2},
    ]
    created = await _created_at(gql, late[0]["id"])
    since = (await gql.data(STATS, {"after": created}))["routeStats"]
    assert since == [
        {"route": "agent", "messages": 3, "share": 0.75},
        {"route": "model", "messages": 1, "share": 0.25},
    ]
    until = (await gql.data(STATS, {"before": created}))["routeStats"]
    assert until == [{"route": "tool", "messages": 1, "share": 1.0}]
    assert await _created_at(gql, early["id"]) < created
    analyst = (await gql.data(STATS, {"agent": "analyst"}))["routeStats"]
    assert analyst == [{"route": "agent", "messages": 2, "share": 1.0}]
    assert (await gql.data(STATS, {"agent": "nobody"}))["routeStats"] == []


async def _created_at(gql: GraphQLClient, message_id: str) -> str:
    document = "query($id: ID!) { node(id: $id) { ... on Message { createdAt } } }"
    created: str = (await gql.data(document, {"id": message_id}))["node"]["createdAt"]
    return created


async def test_route_stats_refuse_an_empty_range(gql: GraphQLClient) -> None:
    variables = {"after": "2026-01-02T00:00:00Z", "before": "2026-01-01T00:00:00Z"}
    assert await gql.error_code(STATS, variables) == "BAD_USER_INPUT"


async def test_route_stats_count_only_conversations_one_can_read(
    secured_http: httpx.AsyncClient,
) -> None:
    alice, bob, carol = (as_user(secured_http, name) for name in ("alice", "bob", "carol"))
    c = (
        await factories.conversation(
            alice, owner={"participantId": "alice"}, participants=[{"participantId": "bob"}]
        )
    )["id"]
    for route in ("agent", "agent", "model"):
        await send(alice, c, senderId="alice", routingDecision={"route": route})
    own = (await factories.conversation(carol, owner={"participantId": "carol"}))["id"]
    await send(carol, own, senderId="carol", routingDecision={"route": "human"})
    shares = [{"route": "agent", "messages": 2}, {"route": "model", "messages": 1}]
    for reader in (alice, bob):
        found = (await reader.data(STATS))["routeStats"]
        assert [{k: r[k] for k in ("route", "messages")} for r in found] == shares
    # carol counts her own message alone, whatever she filters by.
    assert (await carol.data(STATS))["routeStats"] == [
        {"route": "human", "messages": 1, "share": 1.0}
    ]
    assert (await carol.data(STATS, {"agent": "analyst"}))["routeStats"] == []


async def test_ingested_messages_carry_decisions_and_runs(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conversation, trace = uuid.uuid4(), uuid.uuid4()
    c, trace_id = to_global_id("Conversation", conversation), to_global_id("Trace", trace)
    other = (await factories.conversation(gql))["id"]
    elsewhere = (await factories.trace(gql, other))["id"]
    routed = {"conversationId": c, "senderId": "user-1", "content": "routed"}
    items: list[dict[str, Any]] = [
        {"conversation": {"id": str(conversation), "owner": {"participantId": "user-1"}}},
        {"trace": {"start": {"id": str(trace), "conversationId": c}}},
        # The run started earlier in the same batch.
        {"message": {**routed, "routingDecision": DECISION, "runId": trace_id}},
        {"message": {**routed, "routingDecision": {"route": "agent", "confidence": 2}}},
        {"message": {**routed, "routingDecision": {"route": "agent"}, "runId": elsewhere}},
        {"message": {**routed, "routingDecision": {"route": "agent"}, "runId": c}},
    ]
    batch = [{"clientEventId": f"e{n}", **item} for n, item in enumerate(items)]
    results = (await gql.data(INGEST, {"batch": batch}))["ingest"]
    assert [r["ok"] for r in results] == [True, True, True, False, False, False]
    assert [r["error"]["code"] for r in results[3:]] == ["BAD_USER_INPUT"] * 3
    found = await state(gql, c)
    assert found["messageCount"] == 1
    [message] = found["messages"]["nodes"]
    assert message["id"] == results[2]["id"]
    assert (message["routingDecision"], message["run"]) == (
        STORED,
        {"__typename": "Trace", "id": trace_id},
    )
    # Its MESSAGE_ROUTED is in the log, after the message's MESSAGE_CREATED.
    op = await ws.subscribe(EVENTS, {"c": c, "after": encode_cursor(conversation, 0)})
    kinds = [e["conversationEvents"]["kind"] for e in await ws.collect(op, 4)]
    assert kinds == ["CONVERSATION_CREATED", "TRACE_STARTED", "MESSAGE_CREATED", "MESSAGE_ROUTED"]
