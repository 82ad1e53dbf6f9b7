"""Span filters and orderings: the root `spans` list and the arguments of `Trace.spans`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from models.enums import SpanKind, SpanStatus
from resolvers.analytics import spans as span_reads
from resolvers.analytics.spans import SpanOrderField
from resolvers.context import Context
from resolvers.pagination import PageArgs
from schema.enums import OrderDirection
from schema.pagination import Connection, PageArguments
from schema.scalars import Long

if TYPE_CHECKING:
    from schema.trace import Span

SpanT = Annotated["Span", strawberry.lazy("schema.trace")]

strawberry.enum(SpanOrderField, description="START: startedAt; TOKENS: totalTokens.")


@strawberry.input(description="The attribute at `path` equals `value` (compared as text).")
class AttributeFilter:
    path: list[str] = strawberry.field(
        description='Object keys, outermost first: ["gen_ai.request.model"] is one key.'
    )
    value: str = strawberry.field(
        description='Strings as they are; "true"/"false"; numbers as written ("42").'
    )


@strawberry.input(description="Every condition given must hold.")
class SpanFilter:
    kinds: list[SpanKind] | None = None
    statuses: list[SpanStatus] | None = None
    models: list[str] | None = None
    name_contains: str | None = strawberry.field(default=None, description="Case ignored.")
    min_duration_ms: float | None = strawberry.field(
        default=None, description="At least (a running span has no duration: left out)."
    )
    max_duration_ms: float | None = strawberry.field(default=None, description="At most.")
    has_error: bool | None = strawberry.field(
        default=None, description="Status ERROR or an error message (false: neither)."
    )
    min_tokens: int | None = strawberry.field(default=None, description="totalTokens, at least.")
    max_tokens: int | None = strawberry.field(default=None, description="totalTokens, at most.")
    attributes: list[AttributeFilter] | None = None
    started_after: datetime | None = strawberry.field(default=None, description="Inclusive.")
    started_before: datetime | None = strawberry.field(default=None, description="Exclusive.")


@strawberry.input(description="Spans without a duration come last when sorted by DURATION.")
class SpanOrder:
    field: SpanOrderField = SpanOrderField.START
    direction: OrderDirection = OrderDirection.ASC


def span_query(filter: SpanFilter | None, order: SpanOrder | None) -> span_reads.SpanQuery:
    f, o = filter or SpanFilter(), order or SpanOrder()

    def frozen(values: list[str] | None) -> tuple[str, ...] | None:
        return tuple(values) if values else None

    return span_reads.SpanQuery(
        kinds=tuple(f.kinds) if f.kinds else None,
        statuses=tuple(f.statuses) if f.statuses else None,
        models=frozen(f.models),
        name_contains=f.name_contains,
        min_duration_ms=f.min_duration_ms,
        max_duration_ms=f.max_duration_ms,
        has_error=f.has_error,
        min_tokens=f.min_tokens,
        max_tokens=f.max_tokens,
        attributes=tuple(
            span_reads.AttributeEquals(tuple(a.path), a.value) for a in f.attributes or []
        ),
        started_after=f.started_after,
        started_before=f.started_before,
        order=o.field,
        descending=o.direction == OrderDirection.DESC,
    )


async def spans_of_trace(
    info: Info[Context, None], trace_id: uuid.UUID, q: span_reads.SpanQuery, args: PageArgs
) -> Connection[SpanT]:
    """A filtered, sorted page of one trace's spans, batched with its siblings'."""
    from schema.trace import Span

    ctx = info.context
    q.check()
    request = ctx.page_request(args)
    page = await span_reads.filtered_spans_of_trace(ctx).load((trace_id, q, request))
    return Connection.of(
        page, Span.of, lambda: span_reads.filtered_span_counts(ctx).load((trace_id, q))
    )


@strawberry.type(
    description=f"A page of the root `spans` list. Matches are counted up to "
    f"{span_reads.COUNT_CAP:,}: past that, counting them all would read millions of spans."
)
class SpanListConnection(Connection[SpanT]):
    @strawberry.field(
        description=f"How many spans match, exact up to {span_reads.COUNT_CAP:,}; past that, "
        f"{span_reads.COUNT_CAP:,} and `totalCountIsLowerBound` is true."
    )
    async def total_count(self) -> Long:
        return min(await self.count(), span_reads.COUNT_CAP)

    @strawberry.field(description="More spans match than `totalCount` says.")
    async def total_count_is_lower_bound(self) -> bool:
        return await self.count() > span_reads.COUNT_CAP


@strawberry.type
class SpanQueries:
    @strawberry.field(
        description="Spans you can see, by start time unless `orderBy` says.",
        extensions=[PageArguments()],
    )
    async def spans(
        self,
        info: Info[Context, None],
        filter: SpanFilter | None = None,
        order_by: SpanOrder | None = None,
        page: PageArgs = PageArgs(),
    ) -> SpanListConnection:
        from schema.trace import Span

        ctx = info.context
        q = span_query(filter, order_by)
        page_found = await span_reads.spans(ctx, q, ctx.page_request(page))
        count = span_reads.span_match_counts(ctx)
        return SpanListConnection.of(page_found, Span.of, lambda: count.load(q))
