"""`Trace.analysis` and `Span.subtree`: where a trace's time, tokens, cost and errors went."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

import models
from models.enums import SpanKind
from resolvers.analytics import traces as analysis
from resolvers.analytics.span_tree import SpanFacts, SpanTree
from resolvers.context import Context
from resolvers.relations import SPANS_OF_TRACE
from schema.node import from_rows
from schema.scalars import Long
from schema.selections import asks_for

if TYPE_CHECKING:
    from schema.trace import Span

SpanT = Annotated["Span", strawberry.lazy("schema.trace")]


@strawberry.type(description="The spans of one kind. Times in ms; spans still running add none.")
class KindTime:
    kind: SpanKind
    count: Long
    total_ms: float = strawberry.field(description="Sum of the spans' durations.")
    self_ms: float = strawberry.field(description="Sum of their self times.")
    total_tokens: Long
    cost: float
    error_count: Long


@strawberry.type(description="One span's time: childMs is when at least one child ran.")
class SpanTime:
    duration_ms: float | None
    child_ms: float | None = strawberry.field(
        description="The union of its ended children's intervals, clipped to the span: "
        "parallel children count once. Null until the span ends."
    )
    self_ms: float | None = strawberry.field(description="durationMs - childMs.")
    # Read only when the selection asks for `span`: the times need none of it.
    span_row: strawberry.Private[models.Span | None]

    @strawberry.field
    def span(self) -> SpanT:
        from schema.trace import Span

        assert self.span_row is not None, "span_times reads the rows `span` is asked for"
        return Span.of(self.span_row)


@strawberry.type(description="Totals of a span and every span below it, read as stored now.")
class SpanSubtree:
    span_count: Long
    input_tokens: Long
    output_tokens: Long
    total_tokens: Long
    cost: float
    error_count: Long


@strawberry.type(
    description="A trace's span tree measured at read time. The critical path starts at the "
    "root span that ended last and follows, at each level, the child that ended last (ties: "
    "the one started first); spans not ended are never on it."
)
class TraceAnalysis:
    trace_id: strawberry.Private[uuid.UUID]

    async def _tree(self, info: Info[Context, None]) -> SpanTree:
        tree: SpanTree = await analysis.span_trees(info.context).load(self.trace_id)
        return tree

    async def _rows(self, info: Info[Context, None], spans: list[SpanFacts]) -> list[SpanT]:
        from schema.trace import Span

        rows = await info.context.loaders.by_id(models.Span).load_many([s.id for s in spans])
        return from_rows(Span, [row for row in rows if row is not None])

    @strawberry.field(description="By kind, for the kinds its spans have.")
    async def time_by_kind(self, info: Info[Context, None]) -> list[KindTime]:
        return [
            KindTime(
                kind=k.kind,
                count=k.count,
                total_ms=k.total_ms,
                self_ms=k.self_ms,
                total_tokens=k.total_tokens,
                cost=float(k.cost),
                error_count=k.error_count,
            )
            for k in (await self._tree(info)).kinds
        ]

    @strawberry.field(description="From the first span's start to the last span's end (ms).")
    async def duration_ms(self, info: Info[Context, None]) -> float | None:
        tree = await self._tree(info)
        start, end = tree.started_at, tree.ended_at
        return None if start is None or end is None else (end - start) / timedelta(milliseconds=1)

    @strawberry.field(description="When the first span started.")
    async def started_at(self, info: Info[Context, None]) -> datetime | None:
        return (await self._tree(info)).started_at

    @strawberry.field(description="When the last ended span ended.")
    async def ended_at(self, info: Info[Context, None]) -> datetime | None:
        return (await self._tree(info)).ended_at

    @strawberry.field
    async def span_count(self, info: Info[Context, None]) -> int:
        return len((await self._tree(info)).spans)

    @strawberry.field
    async def input_tokens(self, info: Info[Context, None]) -> int:
        return sum(k.input_tokens for k in (await self._tree(info)).kinds)

    @strawberry.field
    async def output_tokens(self, info: Info[Context, None]) -> int:
        return sum(k.output_tokens for k in (await self._tree(info)).kinds)

    @strawberry.field
    async def total_tokens(self, info: Info[Context, None]) -> int:
        return sum(k.total_tokens for k in (await self._tree(info)).kinds)

    @strawberry.field
    async def cost(self, info: Info[Context, None]) -> float:
        return float(sum((k.cost for k in (await self._tree(info)).kinds), Decimal(0)))

    @strawberry.field
    async def error_count(self, info: Info[Context, None]) -> int:
        return sum(k.error_count for k in (await self._tree(info)).kinds)

    @strawberry.field(description="Spans with status ERROR, by start.")
    async def error_spans(self, info: Info[Context, None]) -> list[SpanT]:
        return await self._rows(info, (await self._tree(info)).errors())

    @strawberry.field(description="Root first.")
    async def critical_path(self, info: Info[Context, None]) -> list[SpanT]:
        return await self._rows(info, (await self._tree(info)).critical_path())

    @strawberry.field(description="Every span's duration, child time and self time, by start.")
    async def span_times(self, info: Info[Context, None]) -> list[SpanTime]:
        times = (await self._tree(info)).times
        rows: dict[uuid.UUID, models.Span | None] = dict.fromkeys(t.span.id for t in times)
        if any(asks_for(f.selections, "span") for f in info.selected_fields):
            found = await info.context.loaders.rows_by(SPANS_OF_TRACE).load(self.trace_id)
            # A span deleted since the times were read is left out.
            rows = {row.id: row for row in found}
        return [
            SpanTime(
                duration_ms=t.span.duration_ms,
                child_ms=t.child_ms,
                self_ms=t.self_ms,
                span_row=rows[t.span.id],
            )
            for t in times
            if t.span.id in rows
        ]


async def subtree(info: Info[Context, None], span: models.Span) -> SpanSubtree:
    tree: SpanTree = await analysis.span_trees(info.context).load(span.trace_id)
    s = tree.subtree(span.id)
    return SpanSubtree(
        span_count=s.span_count,
        input_tokens=s.input_tokens,
        output_tokens=s.output_tokens,
        total_tokens=s.total_tokens,
        cost=float(s.cost),
        error_count=s.error_count,
    )
