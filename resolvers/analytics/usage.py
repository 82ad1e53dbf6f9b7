"""`usage`: spans counted, summed and timed per group, in one statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlmodel import col

from models import ComponentVersion, Span, SpanComponentVersion, Trace
from models.enums import SpanKind, SpanStatus
from resolvers.access import visible
from resolvers.analytics.sql import PERCENTILES, percentile, percentile_columns, utc_period
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.principal import Principal


class UsageGroupBy(StrEnum):
    MODEL = "MODEL"
    PROVIDER = "PROVIDER"
    COMPONENT_VERSION = "COMPONENT_VERSION"
    SPAN_KIND = "SPAN_KIND"
    CONVERSATION = "CONVERSATION"
    USER = "USER"
    DAY = "DAY"
    HOUR = "HOUR"


# What each grouping groups by (a span's, its trace's, or its version link's column).
GROUP_COLUMNS: dict[UsageGroupBy, Any] = {
    UsageGroupBy.MODEL: col(Span.model),
    UsageGroupBy.PROVIDER: col(Span.provider),
    UsageGroupBy.COMPONENT_VERSION: col(SpanComponentVersion.component_version_id),
    UsageGroupBy.SPAN_KIND: col(Span.kind),
    UsageGroupBy.CONVERSATION: col(Trace.conversation_id),
    UsageGroupBy.USER: col(Trace.user_id),
    UsageGroupBy.DAY: utc_period(col(Span.started_at), "day"),
    UsageGroupBy.HOUR: utc_period(col(Span.started_at), "hour"),
}


@dataclass(frozen=True)
class UsageQuery:
    group_by: Sequence[UsageGroupBy] = ()
    started_from: datetime | None = None
    started_to: datetime | None = None
    conversation_id: uuid.UUID | None = None
    kinds: Sequence[SpanKind] | None = None
    models: Sequence[str] | None = None
    providers: Sequence[str] | None = None
    user_id: str | None = None
    # Grouped by COMPONENT_VERSION: only the versions of these components.
    component_ids: Sequence[uuid.UUID] | None = None


@dataclass
class UsageGroup:
    key: dict[UsageGroupBy, Any]
    count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    latency_max: float | None
    error_count: int

    @property
    def error_rate(self) -> float:
        return self.error_count / self.count if self.count else 0.0


def _conditions(ctx: Context, q: UsageQuery) -> list[ColumnElement[bool]]:
    # The trace is joined anyway: its visibility is the span's.
    found = visible(Trace, ctx.principal)
    if q.conversation_id is not None:
        found.append(col(Trace.conversation_id) == q.conversation_id)
    if q.user_id is not None:
        found.append(col(Trace.user_id) == q.user_id)
    for values, column in (
        (q.kinds, Span.kind),
        (q.models, Span.model),
        (q.providers, Span.provider),
    ):
        if values:
            found.append(col(column).in_(values))
    if q.started_from is not None:
        found.append(col(Span.started_at) >= q.started_from)
    if q.started_to is not None:
        found.append(col(Span.started_at) < q.started_to)
    return found


def versions_of(component_ids: Sequence[uuid.UUID]) -> Any:
    return select(col(ComponentVersion.id)).where(
        col(ComponentVersion.component_id).in_(component_ids)
    )


def shown_links(principal: Principal) -> list[ColumnElement[bool]]:
    """Links of spans to versions the principal may see: another user's private versions
    are no group of theirs (their spans count as using none)."""
    shown = visible(ComponentVersion, principal)
    if not shown:
        return []
    return [
        col(SpanComponentVersion.component_version_id).in_(
            select(col(ComponentVersion.id)).where(*shown)
        )
    ]


def usage_statement(ctx: Context, q: UsageQuery) -> Any:
    if len(set(q.group_by)) != len(q.group_by):
        raise BadInput("`groupBy` lists a grouping twice")
    if q.started_from and q.started_to and q.started_from >= q.started_to:
        raise BadInput("`from` must be before `to`")
    keys = [GROUP_COLUMNS[g].label(f"key_{i}") for i, g in enumerate(q.group_by)]
    latency = col(Span.duration_ms)
    rank, ranked = percentile_columns(latency, [GROUP_COLUMNS[g] for g in q.group_by])
    spans = select(
        *keys,
        col(Span.input_tokens).label("input_tokens"),
        col(Span.output_tokens).label("output_tokens"),
        col(Span.total_tokens).label("total_tokens"),
        col(Span.cost).label("cost"),
        latency.label("latency"),
        case((col(Span.status) == SpanStatus.ERROR, 1), else_=0).label("error"),
        rank.label("latency_rank"),
        ranked.label("latencies"),
    ).join(Trace, col(Trace.id) == col(Span.trace_id))
    if UsageGroupBy.COMPONENT_VERSION in q.group_by:
        # A span counts once for each version it used; a span that used none, under null.
        link = and_(col(SpanComponentVersion.span_id) == col(Span.id), *shown_links(ctx.principal))
        spans = spans.outerjoin(SpanComponentVersion, link)
        if q.component_ids is not None:
            spans = spans.where(
                col(SpanComponentVersion.component_version_id).in_(versions_of(q.component_ids))
            )
    rows = spans.where(*_conditions(ctx, q)).subquery("usage_spans")
    group = [rows.c[f"key_{i}"] for i in range(len(q.group_by))]
    measured = rows.c.latency, rows.c.latency_rank, rows.c.latencies
    return (
        select(
            *group,
            func.count(),
            func.coalesce(func.sum(rows.c.input_tokens), 0),
            func.coalesce(func.sum(rows.c.output_tokens), 0),
            func.coalesce(func.sum(rows.c.total_tokens), 0),
            func.coalesce(func.sum(rows.c.cost), 0.0),
            *(percentile(p, *measured) for p in PERCENTILES),
            func.max(rows.c.latency),
            func.coalesce(func.sum(rows.c.error), 0),
        )
        .group_by(*group)
        .order_by(*(g.asc().nulls_last() for g in group))
    )


async def usage(ctx: Context, q: UsageQuery) -> list[UsageGroup]:
    rows = await ctx.loaders.fetch(usage_statement(ctx, q))
    width = len(q.group_by)
    return [
        UsageGroup(dict(zip(q.group_by, row[:width], strict=True)), *row[width:]) for row in rows
    ]
