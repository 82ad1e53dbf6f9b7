"""traceEvents, conversationsActivity, and gaps the broadcast never delivered."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette

from resolvers.context import Context
from resolvers.writes import messages
from schema.inputs import SendMessageInput
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.ws_client import GraphQLWebSocket

TRACE_EVENTS = """subscription($t: ID!) {
  traceEvents(traceId: $t) { kind seq ... on SpanEvent { span { name status } } }
}"""
ACTIVITY = """subscription($f: ConversationFilter) {
  conversationsActivity(filter: $f) { kind conversation { title } }
}"""
EVENTS = """subscription($c: ID!) {
  conversationEvents(conversationId: $c) { seq kind ... on MessageEvent { message { content } } }
}"""


async def test_trace_events_replay_then_follow_the_trace(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv = await factories.conversation(gql)
    trace = await factories.trace(gql, conv["id"])
    other = await factories.trace(gql, conv["id"])
    first = await factories.span(gql, trace["id"], name="plan")
    await factories.span(gql, other["id"], name="elsewhere")
    op = await ws.subscribe(TRACE_EVENTS, {"t": trace["id"]})
    replayed = (await ws.next(op))["traceEvents"]
    assert (replayed["kind"], replayed["span"]["name"]) == ("SPAN_STARTED", "plan")
    await factories.message(gql, conv["id"])  # not a span event: filtered out
    await factories.end_span(gql, first["id"], status="ERROR", error="boom")
    ended = (await ws.next(op))["traceEvents"]
    assert (ended["kind"], ended["span"]["status"]) == ("SPAN_ENDED", "ERROR")
    await ws.nothing_more(op)


async def test_activity_follows_matching_conversations(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    op = await ws.subscribe(ACTIVITY, {"f": {"tag": "support"}})
    await asyncio.sleep(0.2)
    await factories.conversation(gql, title="unrelated")
    conv = await factories.conversation(gql, title="Help", tags=["support"])
    await factories.message(gql, conv["id"])
    await gql.data("mutation($c: ID!) { closeConversation(id: $c) { id } }", {"c": conv["id"]})
    events = [e["conversationsActivity"] for e in await ws.collect(op, 3)]
    assert [e["kind"] for e in events] == [
        "CONVERSATION_CREATED",
        "MESSAGE_CREATED",
        "CONVERSATION_STATUS",
    ]
    assert {e["conversation"]["title"] for e in events} == {"Help"}
    await ws.nothing_more(op)


async def test_an_event_that_was_never_published_is_read_from_the_log(
    gql: GraphQLClient, ws: GraphQLWebSocket, app: Starlette
) -> None:
    conv = await factories.conversation(gql)
    op = await ws.subscribe(EVENTS, {"c": conv["id"]})
    await asyncio.sleep(0.2)
    # Written and logged, but never announced: as if the broadcast had dropped it.
    silent = Context.create(app.state.database, app.state.settings, bus=None)
    lost = SendMessageInput(conversation_id=conv["id"], sender_id="user-1", content="lost")
    await messages.send_message(silent, lost)
    await factories.message(gql, conv["id"], content="announced")
    events = [e["conversationEvents"] for e in await ws.collect(op, 2)]
    assert [e["message"]["content"] for e in events] == ["lost", "announced"]
    assert [e["seq"] for e in events] == [2, 3]
