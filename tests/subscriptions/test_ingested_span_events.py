"""The SPAN_STARTED and SPAN_ENDED of the spans of a trace in one ingestion batch are one
row of the event log, and still two events each to every subscriber: replayed, resumed
between any two, and live (tests/subscriptions/test_span_batch_events.py: large batches)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col
from starlette.applications import Starlette

from models import Event
from resolvers.ids import from_global_id
from subscriptions.streams import encode_cursor
from tests.graphql_client import GraphQLClient
from tests.web import otlp_json as otlp
from tests.ws_client import GraphQLWebSocket

KEY = "span-rows"
EVENTS = """subscription($c: ID!, $a: String) {
  conversationEvents(conversationId: $c, after: $a) {
    seq cursor kind ... on SpanEvent { span { name } } } }"""
TRACE_EVENTS = """subscription($t: ID!, $a: String) {
  traceEvents(traceId: $t, after: $a) { seq cursor kind ... on SpanEvent { span { name } } } }"""
TRACE_ID = """query($c: ID!) { conversation(id: $c) { traces { nodes { id } } } }"""
LAST_CURSOR = """query($c: ID!) { conversation(id: $c) { cursor: lastEventCursor } }"""
# A trace of a root and two children, all ended, ingested in one batch.
FIRST_TRACE = [
    ("CONVERSATION_CREATED", None),
    ("TRACE_STARTED", None),
    *[(kind, f"step 1.{n}") for n in range(3) for kind in ("SPAN_STARTED", "SPAN_ENDED")],
    ("TRACE_ENDED", None),
]


def spans(trace: int, *numbers: int) -> list[dict[str, Any]]:
    """Spans of `trace`, started in order: 0 is the root (it ends the trace), the others
    its children."""
    attributes = {"gen_ai.conversation.id": KEY}
    return [
        otlp.span(trace, n, f"step {trace}.{n}", attributes, parent=None if n == 0 else 0, start=n)
        for n in numbers
    ]


def story(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["kind"], (e.get("span") or {}).get("name")) for e in events]


async def ingest_first_trace(http: httpx.AsyncClient, gql: GraphQLClient) -> str:
    await otlp.post(http, *spans(1, 0, 1, 2))
    conversation: str = (await otlp.conversation(gql, KEY))["id"]
    return conversation


async def events_after(
    ws: GraphQLWebSocket, conversation: str, after: str | None, count: int
) -> list[dict[str, Any]]:
    """`count` events of the conversation after `after` (None: the live ones), and no more."""
    op = await ws.subscribe(EVENTS, {"c": conversation, "a": after})
    found = [e["conversationEvents"] for e in await ws.collect(op, count)]
    await ws.nothing_more(op)
    await ws.stop(op)
    return found


async def test_an_ingested_traces_spans_are_one_row_and_two_events_each(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conversation = await ingest_first_trace(http, gql)
    raw_id = from_global_id(conversation)[1]
    events = await events_after(ws, conversation, encode_cursor(raw_id, 0), len(FIRST_TRACE))
    assert story(events) == FIRST_TRACE
    assert [e["seq"] for e in events] == list(range(1, len(FIRST_TRACE) + 1))

    async with app.state.engine.connect() as connection:
        rows = await connection.execute(
            select(col(Event.kind), func.count())
            .where(col(Event.conversation_id) == raw_id)
            .group_by(col(Event.kind))
        )
        stored = dict(rows.all())
    assert (stored.get("SPAN_STARTED"), stored["SPAN_ENDED"]) == (None, 1)


async def test_resuming_from_any_event_misses_and_repeats_nothing(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conversation = await ingest_first_trace(http, gql)
    first = encode_cursor(from_global_id(conversation)[1], 0)
    events = await events_after(ws, conversation, first, len(FIRST_TRACE))
    # Every span event's cursor but the last falls inside the row of the trace's spans.
    for index, event in enumerate(events[:-1]):
        rest = await events_after(ws, conversation, event["cursor"], len(events) - index - 1)
        assert rest == events[index + 1 :], event

    trace = (await gql.data(TRACE_ID, {"c": conversation}))["conversation"]["traces"]["nodes"][0]
    started = next(e for e in events if e["kind"] == "SPAN_STARTED")
    op = await ws.subscribe(TRACE_EVENTS, {"t": trace["id"], "a": started["cursor"]})
    rest = [e["traceEvents"] for e in await ws.collect(op, 6)]
    assert story(rest) == FIRST_TRACE[3:]
    assert (await ws.message(op))["type"] == "complete"


async def test_live_subscribers_see_both_events_of_each_ingested_span(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conversation = await ingest_first_trace(http, gql)
    read = await gql.data(LAST_CURSOR, {"c": conversation})
    # From the cursor, so that nothing depends on when the subscription starts; it has
    # started, in all likelihood, when the spans come: they arrive live.
    op = await ws.subscribe(EVENTS, {"c": conversation, "a": read["conversation"]["cursor"]})
    await asyncio.sleep(0.2)
    await otlp.post(http, *spans(2, 1, 2))  # the children first: the trace runs on
    await otlp.post(http, *spans(2, 0))
    live = [e["conversationEvents"] for e in await ws.collect(op, 8)]
    assert story(live) == [
        ("TRACE_STARTED", None),
        ("SPAN_STARTED", "step 2.1"),
        ("SPAN_ENDED", "step 2.1"),
        ("SPAN_STARTED", "step 2.2"),
        ("SPAN_ENDED", "step 2.2"),
        ("SPAN_STARTED", "step 2.0"),
        ("SPAN_ENDED", "step 2.0"),
        ("TRACE_ENDED", None),
    ]
    first = len(FIRST_TRACE) + 1
    assert [e["seq"] for e in live] == list(range(first, first + 8))
    await ws.nothing_more(op)


async def test_trace_events_follow_an_ingested_trace_to_its_end(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    await otlp.post(http, *spans(3, 1))  # no root yet: the trace is running
    conversation = (await otlp.conversation(gql, KEY))["id"]
    trace = (await gql.data(TRACE_ID, {"c": conversation}))["conversation"]["traces"]["nodes"][0]
    op = await ws.subscribe(TRACE_EVENTS, {"t": trace["id"], "a": None})
    replayed = [e["traceEvents"] for e in await ws.collect(op, 3)]
    assert story(replayed) == [
        ("TRACE_STARTED", None),
        ("SPAN_STARTED", "step 3.1"),
        ("SPAN_ENDED", "step 3.1"),
    ]
    await otlp.post(http, *spans(3, 0))
    live = [e["traceEvents"] for e in await ws.collect(op, 3)]
    assert story(live) == [
        ("SPAN_STARTED", "step 3.0"),
        ("SPAN_ENDED", "step 3.0"),
        ("TRACE_ENDED", None),
    ]
    assert [e["seq"] for e in replayed + live] == [2, 3, 4, 5, 6, 7]
    assert (await ws.message(op))["type"] == "complete"
