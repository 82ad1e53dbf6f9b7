"""conversationEvents over a real WebSocket: live events, replay by cursor, ordering."""

from __future__ import annotations

import asyncio
import uuid

from resolvers.ids import from_global_id, to_global_id
from subscriptions.streams import encode_cursor
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.ws_client import GraphQLWebSocket

EVENTS = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    __typename seq cursor kind
    ... on MessageEvent { message { content seq } }
    ... on ParticipantEvent { participant { participantId } }
    ... on ConversationChangeEvent { fields }
    ... on PlanEvent { plan { title } step { position status } }
    ... on SpanEvent { span { name status } trace { id } }
  }
}"""


async def test_live_events_arrive_in_order(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conv = await factories.conversation(gql)
    op = await ws.subscribe(EVENTS, {"c": conv["id"]})
    await asyncio.sleep(0.2)  # let the subscription open before writing
    for n in range(3):
        await factories.message(gql, conv["id"], content=f"m{n}")
    events = [e["conversationEvents"] for e in await ws.collect(op, 3)]
    assert [e["kind"] for e in events] == ["MESSAGE_CREATED"] * 3
    assert [e["message"]["content"] for e in events] == ["m0", "m1", "m2"]
    assert [e["seq"] for e in events] == [2, 3, 4]  # 1 is CONVERSATION_CREATED


async def test_replay_after_a_cursor_then_live(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conv = await factories.conversation(gql)
    for n in range(3):
        await factories.message(gql, conv["id"], content=f"m{n}")
    first = await ws.subscribe(EVENTS, {"c": conv["id"], "after": None})
    await asyncio.sleep(0.2)
    await factories.message(gql, conv["id"], content="live")
    live = (await ws.next(first))["conversationEvents"]
    assert live["message"]["content"] == "live"

    # Everything after the cursor of the second event: m1, m2, live, then what comes next.
    resumed = await ws.subscribe(
        EVENTS, {"c": conv["id"], "after": encode_cursor(raw_id(conv["id"]), 2)}
    )
    replayed = [e["conversationEvents"] for e in await ws.collect(resumed, 3)]
    assert [e["message"]["content"] for e in replayed] == ["m1", "m2", "live"]
    await factories.message(gql, conv["id"], content="after")
    nxt = (await ws.next(resumed))["conversationEvents"]
    assert (nxt["seq"], nxt["message"]["content"]) == (6, "after")
    await ws.nothing_more(resumed)


async def test_every_kind_of_change_is_an_event(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conv = await factories.conversation(gql)
    op = await ws.subscribe(
        EVENTS, {"c": conv["id"], "after": encode_cursor(raw_id(conv["id"]), 0)}
    )
    c = {"c": conv["id"]}
    await gql.data(
        'mutation($c: ID!) { updateConversation(id: $c, input: {title: "T"}) { id } }', c
    )
    await gql.data(
        'mutation($c: ID!) { addParticipant(conversationId: $c, participant: {participantId: "x"}) '
        "{ id } }",
        c,
    )
    plan = await factories.plan(gql, conv["id"], [[]], fields="id steps { id }")
    step = {"input": {"stepId": plan["steps"][0]["id"], "status": "RUNNING"}}
    await gql.data(factories.mutation_document("updateStepStatus", "id"), step)
    trace = await factories.trace(gql, conv["id"])
    span = await factories.span(gql, trace["id"], name="llm")
    await factories.end_span(gql, span["id"])
    await gql.data("mutation($c: ID!) { archiveConversation(id: $c) { id } }", c)
    kinds = [e["conversationEvents"]["kind"] for e in await ws.collect(op, 10)]
    assert kinds == [
        "CONVERSATION_CREATED",
        "CONVERSATION_UPDATED",
        "PARTICIPANT_JOINED",
        "PLAN_UPDATED",
        "STEP_STATUS",
        "PLAN_UPDATED",
        "TRACE_STARTED",
        "SPAN_STARTED",
        "SPAN_ENDED",
        "CONVERSATION_STATUS",
    ]
    await ws.nothing_more(op)


async def test_unknown_conversation_is_not_found(ws: GraphQLWebSocket) -> None:
    missing = to_global_id("Conversation", uuid.uuid4())
    op = await ws.subscribe(EVENTS, {"c": missing})
    assert await error_codes(ws, op) == ["NOT_FOUND"]


async def test_a_bad_cursor_is_bad_input(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conv = await factories.conversation(gql)
    op = await ws.subscribe(EVENTS, {"c": conv["id"], "after": "nope"})
    assert await error_codes(ws, op) == ["BAD_USER_INPUT"]


async def error_codes(ws: GraphQLWebSocket, op: str) -> list[str]:
    """The codes of the errors a subscription ended with."""
    message = await ws.message(op)
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    return [e["extensions"]["code"] for e in errors]


def raw_id(global_id: str) -> uuid.UUID:
    return from_global_id(global_id)[1]


async def test_a_cursor_of_another_conversation_or_ahead_is_refused(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv = await factories.conversation(gql)
    other = await factories.conversation(gql)
    foreign = encode_cursor(raw_id(other["id"]), 1)
    op = await ws.subscribe(EVENTS, {"c": conv["id"], "after": foreign})
    assert await error_codes(ws, op) == ["BAD_USER_INPUT"]
    ahead = encode_cursor(raw_id(conv["id"]), 50)
    op = await ws.subscribe(EVENTS, {"c": conv["id"], "after": ahead})
    assert await error_codes(ws, op) == ["BAD_USER_INPUT"]
    huge = encode_cursor(raw_id(conv["id"]), 2**63)
    op = await ws.subscribe(EVENTS, {"c": conv["id"], "after": huge})
    assert await error_codes(ws, op) == ["BAD_USER_INPUT"]


async def test_last_event_cursor_joins_a_query_to_its_subscription(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv = await factories.conversation(gql)
    await factories.message(gql, conv["id"], content="already read")
    read = "query($c: ID!) { conversation(id: $c) { lastEventCursor } }"
    cursor = (await gql.data(read, {"c": conv["id"]}))["conversation"]["lastEventCursor"]
    await factories.message(gql, conv["id"], content="between query and subscription")
    op = await ws.subscribe(EVENTS, {"c": conv["id"], "after": cursor})
    first = (await ws.next(op))["conversationEvents"]
    assert first["message"]["content"] == "between query and subscription"


async def test_a_mutations_last_event_cursor_includes_its_own_events(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    """The cursor a write answers with is past the events it recorded: resuming from it
    replays none of them, as from a query's right after."""
    conv = await factories.conversation(gql, "id lastEventCursor")
    read = "query($c: ID!) { conversation(id: $c) { lastEventCursor } }"
    queried = (await gql.data(read, {"c": conv["id"]}))["conversation"]["lastEventCursor"]
    assert conv["lastEventCursor"] == queried == encode_cursor(raw_id(conv["id"]), 1)
    op = await ws.subscribe(EVENTS, {"c": conv["id"], "after": conv["lastEventCursor"]})
    await factories.message(gql, conv["id"], content="after the creation")
    first = (await ws.next(op))["conversationEvents"]
    assert first["message"]["content"] == "after the creation"


async def test_a_huge_cursor_of_a_finished_message_is_bad_input(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    """A finished message's story is read from the log straight away: the cursor must
    be checked before it reaches a 32-bit column."""
    conv = await factories.conversation(gql)
    message = await factories.message(gql, conv["id"])
    stream = "subscription($m: ID!, $a: String) { messageStream(messageId: $m, after: $a) { seq } }"
    for seq in (2**31, 10**30):
        huge = encode_cursor(raw_id(conv["id"]), seq)
        op = await ws.subscribe(stream, {"m": message["id"], "a": huge})
        assert await error_codes(ws, op) == ["BAD_USER_INPUT"]
