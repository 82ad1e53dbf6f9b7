"""traceEvents, conversationsActivity, and gaps the broadcast never delivered."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette

from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.writes import messages
from resolvers.writes.commands import SendMessage
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


async def test_trace_events_replay_then_follow_the_trace_to_its_end(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv = await factories.conversation(gql)
    trace = await factories.trace(gql, conv["id"])
    other = await factories.trace(gql, conv["id"])
    first = await factories.span(gql, trace["id"], name="plan")
    await factories.span(gql, other["id"], name="elsewhere")
    op = await ws.subscribe(TRACE_EVENTS, {"t": trace["id"]})
    replayed = [e["traceEvents"] for e in await ws.collect(op, 2)]
    assert [e["kind"] for e in replayed] == ["TRACE_STARTED", "SPAN_STARTED"]
    assert replayed[1]["span"]["name"] == "plan"
    await factories.message(gql, conv["id"])  # not about this trace: filtered out
    await factories.end_span(gql, first["id"], status="ERROR", error="boom")
    ended = (await ws.next(op))["traceEvents"]
    assert (ended["kind"], ended["span"]["status"]) == ("SPAN_ENDED", "ERROR")
    end = {"input": {"traceId": trace["id"], "status": "ERROR"}}
    await gql.data(factories.mutation_document("endTrace", "id"), end)
    assert (await ws.next(op))["traceEvents"]["kind"] == "TRACE_ENDED"
    assert (await ws.message(op))["type"] == "complete"


async def test_trace_events_of_an_ended_trace_replay_and_complete(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv = await factories.conversation(gql)
    trace = await factories.trace(gql, conv["id"])
    span = await factories.span(gql, trace["id"])
    await factories.end_span(gql, span["id"])
    await gql.data(
        factories.mutation_document("endTrace", "id"), {"input": {"traceId": trace["id"]}}
    )
    op = await ws.subscribe(TRACE_EVENTS, {"t": trace["id"]})
    kinds = [e["traceEvents"]["kind"] for e in await ws.collect(op, 4)]
    assert kinds == ["TRACE_STARTED", "SPAN_STARTED", "SPAN_ENDED", "TRACE_ENDED"]
    assert (await ws.message(op))["type"] == "complete"


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
    conversation_id = parse_id(conv["id"], "Conversation")
    lost = SendMessage(conversation_id=conversation_id, sender_id="user-1", content="lost")
    await messages.send_message(silent, lost)
    await factories.message(gql, conv["id"], content="announced")
    events = [e["conversationEvents"] for e in await ws.collect(op, 2)]
    assert [e["message"]["content"] for e in events] == ["lost", "announced"]
    assert [e["seq"] for e in events] == [2, 3]


async def test_activity_tells_a_list_when_a_conversation_leaves_its_filter(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv = await factories.conversation(gql, title="Support: login", tags=["support"])
    other = await factories.conversation(gql, title="Support: billing", tags=["support"])
    op = await ws.subscribe(ACTIVITY, {"f": {"statuses": ["ACTIVE"], "titleContains": "support"}})
    await asyncio.sleep(0.2)
    c = {"c": conv["id"]}
    await gql.data("mutation($c: ID!) { archiveConversation(id: $c) { id } }", c)
    retitle = 'mutation($c: ID!) { updateConversation(id: $c, input: {title: "Billing"}) { id } }'
    await gql.data(retitle, {"c": other["id"]})
    await gql.data(retitle, {"c": other["id"]})  # already outside the filter: not sent
    events = [e["conversationsActivity"] for e in await ws.collect(op, 2)]
    assert [(e["kind"], e["conversation"]["title"]) for e in events] == [
        ("CONVERSATION_STATUS", "Support: login"),
        ("CONVERSATION_UPDATED", "Billing"),
    ]
    await ws.nothing_more(op)
