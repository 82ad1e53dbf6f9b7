"""`Trace.analysis` and `Span.subtree`: where a trace's time, tokens, cost and errors went."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from models.enums import SpanKind
from resolvers.analytics import traces as analysis
from resolvers.context import Context
from schema.node import from_rows

if TYPE_CHECKING:
    from schema.trace import Span

SpanT = Annotated["Span", strawberry.lazy("schema.trace")]


@strawberry.type(description="The spans of one kind. Times in ms; spans still running add none.")
class KindTime:
    kind: SpanKind
    count: int
    total_ms: float = strawberry.field(description="Sum of the spans' durations.")
    self_ms: float = strawberry.field(description="Sum of their self times.")
    total_tokens: int
    cost: float
    error_count: int


@strawberry.type(description="One span's time: childMs is when at least one child ran.")
class SpanTime:
    duration_ms: float | None
    child_ms: float | None = strawberry.field(
        description="The union of its ended children's intervals, clipped to the span: "
        "parallel children count once. Null until the span ends."
    )
    self_ms: float | None = strawberry.field(description="durationMs - childMs.")
    span_row: strawberry.Private[analysis.SpanTime]

    @strawberry.field
    def span(self) -> SpanT:
        from schema.trace import Span

        return Span.of(self.span_row.span)


@strawberry.type(description="Totals of a span and every span below it, read as stored now.")
class SpanSubtree:
    span_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float
    error_count: int


def _ms_to_time(ms: float | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


@strawberry.type(
    description="A trace's span tree measured at read time. The critical path starts at the "
    "root span that ended last and follows, at each level, the child that ended last (ties: "
    "the one started first); spans not ended are never on it."
)
class TraceAnalysis:
    trace_id: strawberry.Private[uuid.UUID]

    async def _kinds(self, info: Info[Context, None]) -> list[analysis.KindFigures]:
        found: list[analysis.KindFigures] = await analysis.kinds_by_trace(info.context).load(
            self.trace_id
        )
        return found

    @strawberry.field(description="By kind, for the kinds its spans have.")
    async def time_by_kind(self, info: Info[Context, None]) -> list[KindTime]:
        return [
            KindTime(
                kind=k.kind,
                count=k.count,
                total_ms=k.total_ms,
                self_ms=k.self_ms,
                total_tokens=k.total_tokens,
                cost=k.cost,
                error_count=k.error_count,
            )
            for k in await self._kinds(info)
        ]

    @strawberry.field(description="From the first span's start to the last span's end (ms).")
    async def duration_ms(self, info: Info[Context, None]) -> float | None:
        kinds = await self._kinds(info)
        ends = [k.last_end_ms for k in kinds if k.last_end_ms is not None]
        return max(ends) - min(k.first_start_ms for k in kinds) if ends else None

    @strawberry.field(description="When the first span started.")
    async def started_at(self, info: Info[Context, None]) -> datetime | None:
        return _ms_to_time(min((k.first_start_ms for k in await self._kinds(info)), default=None))

    @strawberry.field(description="When the last ended span ended.")
    async def ended_at(self, info: Info[Context, None]) -> datetime | None:
        ends = [k.last_end_ms for k in await self._kinds(info) if k.last_end_ms is not None]
        return _ms_to_time(max(ends, default=None))

    @strawberry.field
    async def span_count(self, info: Info[Context, None]) -> int:
        return sum(k.count for k in await self._kinds(info))

    @strawberry.field
    async def input_tokens(self, info: Info[Context, None]) -> int:
        return sum(k.input_tokens for k in await self._kinds(info))

    @strawberry.field
    async def output_tokens(self, info: Info[Context, None]) -> int:
        return sum(k.output_tokens for k in await self._kinds(info))

    @strawberry.field
    async def total_tokens(self, info: Info[Context, None]) -> int:
        return sum(k.total_tokens for k in await self._kinds(info))

    @strawberry.field
    async def cost(self, info: Info[Context, None]) -> float:
        return sum(k.cost for k in await self._kinds(info))

    @strawberry.field
    async def error_count(self, info: Info[Context, None]) -> int:
        return sum(k.error_count for k in await self._kinds(info))

    @strawberry.field(description="Spans with status ERROR, by start.")
    async def error_spans(self, info: Info[Context, None]) -> list[SpanT]:
        from schema.trace import Span

        loader = info.context.loaders.rows_by(analysis.ERROR_SPANS_OF_TRACE)
        return from_rows(Span, await loader.load(self.trace_id))

    @strawberry.field(description="Root first.")
    async def critical_path(self, info: Info[Context, None]) -> list[SpanT]:
        from schema.trace import Span

        rows = await analysis.critical_paths(info.context).load(self.trace_id)
        return from_rows(Span, rows)

    @strawberry.field(description="Every span's duration, child time and self time, by start.")
    async def span_times(self, info: Info[Context, None]) -> list[SpanTime]:
        found = await analysis.span_times_by_trace(info.context).load(self.trace_id)
        return [
            SpanTime(
                duration_ms=t.span.duration_ms, child_ms=t.child_ms, self_ms=t.self_ms, span_row=t
            )
            for t in found
        ]


async def subtree(info: Info[Context, None], span_id: uuid.UUID) -> SpanSubtree:
    s = await analysis.subtrees(info.context).load(span_id)
    return SpanSubtree(
        span_count=s.span_count,
        input_tokens=s.input_tokens,
        output_tokens=s.output_tokens,
        total_tokens=s.total_tokens,
        cost=s.cost,
        error_count=s.error_count,
    )
