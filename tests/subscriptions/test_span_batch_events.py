"""Large ingestion batches: a trace's spans take one row of the event log per
SPANS_PER_ROW of them, and every subscriber still gets each span's SPAN_STARTED and
SPAN_ENDED, numbered without gaps, its span and trace resolved: live, replayed a page at
a time, resumed from inside a row, followed by trace, and once the trace is swept."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update
from sqlmodel import col
from starlette.applications import Starlette

from config import Settings
from models import Conversation, Event
from models.base import utcnow
from models.enums import EventKind
from resolvers import event_log
from resolvers.context import Context
from resolvers.event_log import PAGE
from resolvers.event_rows import MAX_SEQ, SPANS, SPANS_PER_ROW, STARTED_TOO
from resolvers.ids import from_global_id
from resolvers.retention import sweep
from subscriptions import hub
from subscriptions.streams import encode_cursor
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.web import otlp_json as otlp
from tests.ws_client import GraphQLWebSocket

KEY = "span-batches"
EVENTS = """subscription($c: ID!, $a: String) {
  conversationEvents(conversationId: $c, after: $a) {
    seq cursor kind ... on SpanEvent { span { name } trace { name } } } }"""
TRACE_EVENTS = """subscription($t: ID!, $a: String) {
  traceEvents(traceId: $t, after: $a) {
    seq cursor kind ... on SpanEvent { span { name } trace { name } } } }"""
TRACES = """query($c: ID!) { conversation(id: $c) {
  cursor: lastEventCursor traces { nodes { id name } } } }"""
# Trace 1 opens the conversation; traces 2 and 3 come in one batch, 2 with more span
# events than a page of the log holds.
BIG, SMALL = 130, 4
PAGE_READ = "<= coalesce((SELECT events.seq"  # a page of the log (event_log.log_page)


def trace(number: int, count: int) -> list[dict[str, Any]]:
    """A trace of `count` ended spans started in turn, the root first (it ends the trace);
    sent in reverse, so that only their start times give the order."""
    attributes = {"gen_ai.conversation.id": KEY}
    found = [
        otlp.span(number, n, f"t{number}.{n}", attributes, parent=None if n == 0 else 0, start=n)
        for n in range(count)
    ]
    return found[::-1]


def story(events: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    def name(event: dict[str, Any], field: str) -> str | None:
        return (event.get(field) or {}).get("name")

    return [(e["kind"], name(e, "span"), name(e, "trace")) for e in events]


def expected(*traces: tuple[int, int]) -> list[tuple[str, str | None, str | None]]:
    """A batch's events as ingestion writes them: the new traces start, each trace's spans
    start and end in the order they started, the traces end."""
    spans = [
        (kind, f"t{number}.{n}", f"t{number}.0")
        for number, count in traces
        for n in range(count)
        for kind in ("SPAN_STARTED", "SPAN_ENDED")
    ]
    starts = [("TRACE_STARTED", None, None) for _ in traces]
    return [*starts, *spans, *(("TRACE_ENDED", None, None) for _ in traces)]


async def events_after(
    ws: GraphQLWebSocket, query: str, variables: dict[str, Any], count: int
) -> list[dict[str, Any]]:
    """`count` events of the subscription, and no more."""
    op = await ws.subscribe(query, variables)
    found = [next(iter(e.values())) for e in await ws.collect(op, count)]
    await ws.nothing_more(op)
    await ws.stop(op)
    return found


async def stored_listings(app: Starlette, conversation: str) -> list[list[str]]:
    """The span ids each SPAN_ENDED row of the conversation lists, in sequence order."""
    async with app.state.engine.connect() as connection:
        rows = await connection.execute(
            select(col(Event.data))
            .where(
                col(Event.conversation_id) == from_global_id(conversation)[1],
                col(Event.kind) == EventKind.SPAN_ENDED,
            )
            .order_by(col(Event.seq))
        )
        return [data.get(SPANS) for data in rows.scalars()]


async def batch_after_first_trace(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> tuple[str, list[dict[str, Any]]]:
    """Traces 2 and 3 posted in one batch to the conversation of trace 1, as a subscriber
    following it from there saw them."""
    await otlp.post(http, *trace(1, 1))
    conversation: str = (await otlp.conversation(gql, KEY))["id"]
    read = await gql.data(TRACES, {"c": conversation})
    op = await ws.subscribe(EVENTS, {"c": conversation, "a": read["conversation"]["cursor"]})
    await asyncio.sleep(0.2)  # subscribed, in all likelihood: the batch arrives live
    await otlp.post(http, *trace(2, BIG), *trace(3, SMALL))
    live = [
        e["conversationEvents"] for e in await ws.collect(op, len(expected((2, BIG), (3, SMALL))))
    ]
    await ws.nothing_more(op)
    await ws.stop(op)
    return conversation, live


async def test_a_batch_is_one_row_per_trace_and_every_span_event_live(
    app: Starlette,
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    ws: GraphQLWebSocket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The hub hands the events of the rows it read out this many at a time.
    monkeypatch.setattr(hub, "BATCH", 16)
    conversation, live = await batch_after_first_trace(http, gql, ws)
    assert story(live) == expected((2, BIG), (3, SMALL))
    first = live[0]["seq"]
    assert [e["seq"] for e in live] == list(range(first, first + len(live)))
    listed = await stored_listings(app, conversation)
    assert [len(ids) for ids in listed] == [1, BIG, SMALL]


async def test_resuming_inside_a_row_yields_exactly_the_rest(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conversation, live = await batch_after_first_trace(http, gql, ws)
    raw_id = from_global_id(conversation)[1]
    replayed = await events_after(
        ws, EVENTS, {"c": conversation, "a": encode_cursor(raw_id, 0)}, live[-1]["seq"]
    )
    assert replayed[-len(live) :] == live
    # Trace 1 took the first five events; the two rows of the batch follow its two starts.
    second, third = 7, 7 + 2 * BIG
    assert second < PAGE < third  # the first page of the log ends inside trace 2's row
    for index in (6, 7, 8, second + BIG, PAGE - 1, PAGE, third - 1, third + 1, third + 5):
        rest = await events_after(
            ws,
            EVENTS,
            {"c": conversation, "a": replayed[index]["cursor"]},
            len(replayed) - index - 1,
        )
        assert rest == replayed[index + 1 :], index

    traces = (await gql.data(TRACES, {"c": conversation}))["conversation"]["traces"]["nodes"]
    by_name = {t["name"]: t["id"] for t in traces}
    after = replayed[second + BIG]["cursor"]
    # Each trace's events from inside trace 2's row: its span events left, then its end.
    assert await trace_events(ws, by_name["t2.0"], after) == [
        *replayed[second + BIG + 1 : third],
        replayed[-2],
    ]
    assert await trace_events(ws, by_name["t3.0"], after) == [*replayed[third:-2], replayed[-1]]


async def test_a_trace_subscription_pages_by_its_events_not_the_numbers_between(
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    ws: GraphQLWebSocket,
    sql: StatementCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conversation, live = await batch_after_first_trace(http, gql, ws)
    traces = (await gql.data(TRACES, {"c": conversation}))["conversation"]["traces"]["nodes"]
    third = next(t["id"] for t in traces if t["name"] == "t3.0")
    monkeypatch.setattr(event_log, "PAGE", 10)
    sql.reset()
    # From its start, past trace 2's row of 2 x BIG events: one page, and one jump to
    # the page of its own row.
    found = await trace_events(ws, third, live[1]["cursor"])
    assert found == [*live[2 + 2 * BIG : -2], live[-1]]
    assert sum(PAGE_READ in statement for statement in sql.statements) == 2


async def trace_events(ws: GraphQLWebSocket, trace_id: str, after: str) -> list[dict[str, Any]]:
    """A finished trace's events after `after`, to the end of the subscription."""
    op = await ws.subscribe(TRACE_EVENTS, {"t": trace_id, "a": after})
    found = []
    while (message := await ws.message(op))["type"] == "next":
        found.append(message["payload"]["data"]["traceEvents"])
    assert message["type"] == "complete", message
    return found


async def test_a_cursor_at_the_last_number_ends_a_finished_trace(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    """The page after a cursor numbered 2**31 - 1 lies past what a sequence number can
    be: nothing is there, and the subscription completes."""
    await otlp.post(http, *trace(1, 2))
    conversation = (await otlp.conversation(gql, KEY))["id"]
    traces = (await gql.data(TRACES, {"c": conversation}))["conversation"]["traces"]["nodes"]
    last = encode_cursor(from_global_id(conversation)[1], MAX_SEQ)
    assert await trace_events(ws, traces[0]["id"], last) == []


async def test_a_trace_over_the_row_bound_takes_several_rows(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    count = SPANS_PER_ROW + 1
    await otlp.post(http, *trace(4, count))
    conversation = (await otlp.conversation(gql, KEY))["id"]
    listed = await stored_listings(app, conversation)
    assert [len(ids) for ids in listed] == [SPANS_PER_ROW, 1]
    raw_id = from_global_id(conversation)[1]
    want = [("CONVERSATION_CREATED", None, None), *expected((4, count))]
    events = await events_after(
        ws, EVENTS, {"c": conversation, "a": encode_cursor(raw_id, 0)}, len(want)
    )
    assert story(events) == want
    assert [e["seq"] for e in events] == list(range(1, len(want) + 1))


async def test_events_of_a_swept_trace_arrive_without_their_spans(
    app: Starlette,
    settings: Settings,
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    ws: GraphQLWebSocket,
) -> None:
    """As when each span event had a row whose span_id the deletion set NULL: even once
    an exporter sends the same spans again."""
    await otlp.post(http, *trace(5, 3))  # started in 2023: past any retention
    conversation = (await otlp.conversation(gql, KEY))["id"]
    policy = replace(settings, retention_trace_days=30)
    report = await sweep(Context.create(app.state.database, policy, app.state.bus))
    assert report.deleted["traces"] == 1
    await otlp.post(http, *trace(5, 3))
    raw_id = from_global_id(conversation)[1]
    again = expected((5, 3))
    gone = [(kind, None, None) for kind, _, _ in again]
    want = [("CONVERSATION_CREATED", None, None), *gone, *again]
    events = await events_after(
        ws, EVENTS, {"c": conversation, "a": encode_cursor(raw_id, 0)}, len(want)
    )
    assert story(events) == want


async def test_a_row_of_one_span_written_before_rows_listed_spans(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    """Rows of {"startedToo": true}, the span in span_id, as ingestion wrote them before."""
    await otlp.post(http, *trace(6, 2))
    conversation = (await otlp.conversation(gql, KEY))["id"]
    raw_id = from_global_id(conversation)[1]
    traces = (await gql.data(TRACES, {"c": conversation}))["conversation"]["traces"]["nodes"]
    trace_id = from_global_id(traces[0]["id"])[1]
    listed = await stored_listings(app, conversation)
    async with app.state.engine.begin() as connection:
        last = (
            await connection.execute(
                update(Conversation)
                .where(col(Conversation.id) == raw_id)
                .values(last_event_seq=col(Conversation.last_event_seq) + 2)
                .returning(col(Conversation.last_event_seq))
            )
        ).scalar_one()
        await connection.execute(
            insert(Event).values(
                conversation_id=raw_id,
                seq=last,
                kind=EventKind.SPAN_ENDED,
                trace_id=trace_id,
                span_id=uuid.UUID(listed[0][1]),
                data={STARTED_TOO: True},
                created_at=utcnow(),
            )
        )
    events = await events_after(
        ws, EVENTS, {"c": conversation, "a": encode_cursor(raw_id, last - 3)}, 3
    )
    assert story(events) == [
        ("TRACE_ENDED", None, None),
        ("SPAN_STARTED", "t6.1", "t6.0"),
        ("SPAN_ENDED", "t6.1", "t6.0"),
    ]
    assert [e["seq"] for e in events] == [last - 2, last - 1, last]
