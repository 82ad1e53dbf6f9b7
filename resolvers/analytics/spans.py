"""Span lists filtered and sorted in SQL: the root `spans` and `Trace.spans`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, literal, or_, select, union_all
from sqlmodel import col

from models import Span
from models.enums import SpanKind, SpanStatus
from models.trace import value_indexed
from resolvers.access import visible_by_membership
from resolvers.analytics.sql import written_in
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.filters import contains_folded, json_text_at
from resolvers.pagination import (
    Ordering,
    Page,
    PageRequest,
    Relation,
    gathered_page_query,
    make_page,
    page_query,
)
from resolvers.segments import Segment, segmented_page_query


class SpanOrderField(StrEnum):
    START = "START"
    DURATION = "DURATION"
    TOKENS = "TOKENS"
    COST = "COST"


SORT_COLUMNS: dict[SpanOrderField, Any] = {
    SpanOrderField.START: Span.started_at,
    SpanOrderField.DURATION: Span.duration_ms,
    SpanOrderField.TOKENS: Span.total_tokens,
    SpanOrderField.COST: Span.cost,
}
# Orderings and, for Trace.spans, relations are constants: loaders are cached by them.
ORDERINGS = {
    (field, descending): Ordering(column, Span.id, descending)
    for field, column in SORT_COLUMNS.items()
    for descending in (False, True)
}
SPANS_OF_TRACE_BY = {
    key: Relation(Span, Span.trace_id, ordering) for key, ordering in ORDERINGS.items()
}


@dataclass(frozen=True)
class AttributeEquals:
    path: tuple[str, ...]
    value: str


@dataclass(frozen=True)
class SpanQuery:
    """Every condition given must hold. Hashable: part of a DataLoader key."""

    kinds: tuple[SpanKind, ...] | None = None
    statuses: tuple[SpanStatus, ...] | None = None
    models: tuple[str, ...] | None = None
    name_contains: str | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    has_error: bool | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None
    attributes: tuple[AttributeEquals, ...] = ()
    started_after: datetime | None = None
    started_before: datetime | None = None
    order: SpanOrderField = SpanOrderField.START
    descending: bool = False

    def check(self) -> None:
        ranges = (
            ("minDurationMs", self.min_duration_ms, "maxDurationMs", self.max_duration_ms),
            ("minTokens", self.min_tokens, "maxTokens", self.max_tokens),
        )
        for low_name, low, high_name, high in ranges:
            if low is not None and high is not None and low > high:
                raise BadInput(f"`{low_name}` is above `{high_name}`")
        if self.started_after and self.started_before and self.started_after >= self.started_before:
            raise BadInput("`startedAfter` must be before `startedBefore`")
        for attribute in self.attributes:
            if not attribute.path or any(not key or '"' in key for key in attribute.path):
                raise BadInput('an attribute `path` lists non-empty keys without `"`')


def span_conditions(q: SpanQuery) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    for values, column in ((q.kinds, Span.kind), (q.statuses, Span.status), (q.models, Span.model)):
        if values:
            found.append(col(column).in_(written_in(values)))
    if q.name_contains:
        found.append(contains_folded(col(Span.name), q.name_contains))
    bounds: tuple[tuple[Any, float | None, float | None], ...] = (
        (col(Span.duration_ms), q.min_duration_ms, q.max_duration_ms),
        (col(Span.total_tokens), q.min_tokens, q.max_tokens),
    )
    for column, low, high in bounds:
        if low is not None:
            found.append(column >= low)
        if high is not None:
            found.append(column <= high)
    if q.has_error is not None:
        failed = or_(col(Span.status) == SpanStatus.ERROR, col(Span.error).is_not(None))
        found.append(failed if q.has_error else ~failed)
    for attribute in q.attributes:
        found.append(json_text_at(col(Span.attributes), attribute.path) == attribute.value)
    if q.started_after is not None:
        found.append(col(Span.started_at) >= q.started_after)
    if q.started_before is not None:
        found.append(col(Span.started_at) < q.started_before)
    return found


# The root list counts its matches up to this many: past it, the total is a lower bound.
COUNT_CAP = 10_000


def _root_conditions(ctx: Context, q: SpanQuery) -> list[ColumnElement[bool]]:
    return [*span_conditions(q), *visible_by_membership(Span, ctx.principal)]


# The value orders and the column their index leads with (migration 0018), the column
# their values follow: agents and chains run longest; only model calls have tokens and
# costs, and a cheap model's calls cost less than an expensive one's. Read in one index by
# value, a filter on kind or model (LLM spans by duration, a cheap model's by cost) skips
# most of it before a page is full, more the more spans there are. Read group by group,
# each group's page is a range of the index, and a page costs the same at any size.
GROUPED_BY: dict[SpanOrderField, Any] = {
    SpanOrderField.DURATION: Span.kind,
    SpanOrderField.TOKENS: Span.model,
    SpanOrderField.COST: Span.model,
}


async def spans(ctx: Context, q: SpanQuery, request: PageRequest) -> Page[Any]:
    """A page of the root list; its total is span_match_counts'."""
    q.check()
    ordering = ORDERINGS[q.order, q.descending]
    where = _root_conditions(ctx, q)
    group = GROUPED_BY.get(q.order)
    if not ctx.principal.unrestricted:
        # A signed-in caller's spans are a share of all spans: read once, not once per group.
        statement = gathered_page_query(Span, where, request, ordering)
    elif group is None:
        statement = page_query(Span, where, request, ordering)
    else:
        segments = [
            segment
            for value in await _groups(ctx, q, group)
            for segment in _segments(q, group, value)
        ]
        statement = segmented_page_query(Span, where, segments, request, ordering)
    return make_page([row[0] for row in await ctx.loaders.fetch(statement)], request, ordering)


async def _groups(ctx: Context, q: SpanQuery, group: Any) -> list[Any]:
    """The values of `group` whose spans can match the filter's statuses, kinds and
    models. A group's page is a range of its index read until enough spans match: one
    where none matches (embedding calls when the filter says LLM) would be read to its end.
    Kinds are known, and a kind's range is read only as far as its spans are; models are
    found, and so is whether any span without a model matches, whose zeros are read from
    the primary key."""
    if group is Span.kind:
        values: list[Any] = list(q.kinds or SpanKind)
        if not q.models:
            return values
    elif q.models:
        values = list(q.models)
    else:
        models = await ctx.loaders.fetch(_models_in_use(SORT_COLUMNS[q.order]))
        values = [*(row[0] for row in models), None]
    probes = [select(literal(i)).where(_occurs(q, group, v)) for i, v in enumerate(values)]
    found = await ctx.loaders.fetch(select(union_all(*probes).subquery()))
    return [values[row[0]] for row in sorted(found)]


def _occurs(q: SpanQuery, group: Any, value: Any) -> ColumnElement[bool]:
    """A span of the group has a status, kind and model the filter asks for: one probe of
    ix_spans_status_model_kind, its statuses spelled out to lead it."""
    member = col(group)
    other, wanted = (Span.model, q.models) if group is Span.kind else (Span.kind, q.kinds)
    return exists().where(
        col(Span.status).in_(written_in(q.statuses or tuple(SpanStatus))),
        member.is_(None) if value is None else member == written_in(value),
        *([col(other).in_(written_in(wanted))] if wanted else []),
    )


def _models_in_use(column: Any) -> Select[Any]:
    """The distinct models, one probe of `column`'s index each (a loose index scan), not a
    read of every span."""
    indexed = value_indexed(col(column))
    lowest = select(func.min(col(Span.model)).label("model")).where(indexed)
    found = lowest.where(col(Span.model).is_not(None)).cte("models", recursive=True)
    following = select(func.min(col(Span.model))).where(col(Span.model) > found.c.model, indexed)
    found = found.union_all(select(following.scalar_subquery()).where(found.c.model.is_not(None)))
    return select(found.c.model).where(found.c.model.is_not(None))


def _segments(q: SpanQuery, group: Any, value: Any) -> list[Segment]:
    """The spans of one group in list order, each segment a range of an index."""
    column = SORT_COLUMNS[q.order]
    in_group = col(group).is_(None) if value is None else col(group) == written_in(value)
    if column.nullable:
        # The running spans, which have no duration yet, end the list in id order.
        running = Segment((in_group, column.is_(None)), holds_one_value=True, value=None)
        return [Segment((in_group, column.is_not(None))), running]
    if value is not None:
        return [Segment((in_group, value_indexed(column)))]
    # Without a model: the few with a value from the index, the zeros (most spans) in id
    # order from the primary key.
    zeros = Segment((in_group, column == written_in(0)), holds_one_value=True, value=0)
    return [Segment((in_group, value_indexed(column)), leading=(col(group),)), zeros]


def span_match_counts(ctx: Context) -> Any:
    """Loader: SpanQuery -> how many spans match it, counted up to COUNT_CAP + 1 (so the
    caller can tell the cap was passed): counting every match of a broad filter reads
    millions of rows; a capped count stops early."""

    async def load(queries: list[SpanQuery]) -> list[int]:
        counts = []
        for q in queries:
            matches = select(literal(1)).select_from(Span).where(*_root_conditions(ctx, q))
            capped = matches.limit(written_in(COUNT_CAP + 1)).subquery("matches")
            found = await ctx.loaders.fetch(select(func.count()).select_from(capped))
            counts.append(int(found[0][0]))
        return counts

    return ctx.loaders.custom("span_match_counts", load)


def filtered_spans_of_trace(ctx: Context) -> Any:
    """Loader: (trace id, SpanQuery, page) -> Page; traces asking the same share a query."""

    async def load(keys: list[tuple[uuid.UUID, SpanQuery, PageRequest]]) -> list[Page[Any]]:
        by_query: dict[SpanQuery, list[int]] = {}
        for index, (_, q, _) in enumerate(keys):
            by_query.setdefault(q, []).append(index)
        pages: list[Page[Any] | None] = [None] * len(keys)
        for q, indexes in by_query.items():
            relation = SPANS_OF_TRACE_BY[q.order, q.descending]
            wanted = [(keys[i][0], keys[i][2]) for i in indexes]
            found = await ctx.loaders.pages(relation, wanted, span_conditions(q))
            for index, page in zip(indexes, found, strict=True):
                pages[index] = page
        return [page for page in pages if page is not None]

    return ctx.loaders.custom("filtered_spans_of_trace", load)


def filtered_span_counts(ctx: Context) -> Any:
    """Loader: (trace id, SpanQuery) -> how many of the trace's spans match."""

    async def load(keys: list[tuple[uuid.UUID, SpanQuery]]) -> list[int]:
        counts: dict[tuple[uuid.UUID, SpanQuery], int] = {}
        for q in dict.fromkeys(q for _, q in keys):
            trace_ids = [trace_id for trace_id, same in keys if same == q]
            rows = await ctx.loaders.fetch(
                select(col(Span.trace_id), func.count())
                .where(col(Span.trace_id).in_(trace_ids), *span_conditions(q))
                .group_by(col(Span.trace_id))
            )
            counts.update(((row[0], q), row[1]) for row in rows)
        return [counts.get(key, 0) for key in keys]

    return ctx.loaders.custom("filtered_span_counts", load)
