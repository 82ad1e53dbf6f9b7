"""`usage`: model calls and spans counted, summed and timed per group, in one statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlmodel import col

from models import ComponentVersion, Message, Span, SpanComponentVersion, Trace
from models.enums import MessageStatus, SpanKind, SpanStatus
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
    conversation_ids: Sequence[uuid.UUID] | None = None
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
    cost: Decimal
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    latency_max: float | None
    error_count: int

    @property
    def error_rate(self) -> float:
        return self.error_count / self.count if self.count else 0.0


def _span_conditions(ctx: Context, q: UsageQuery) -> list[ColumnElement[bool]]:
    # The trace is joined anyway: its visibility is the span's.
    found = visible(Trace, ctx.principal)
    if q.conversation_ids is not None:
        found.append(col(Trace.conversation_id).in_(q.conversation_ids))
    if q.user_id is not None:
        found.append(col(Trace.user_id) == q.user_id)
    if q.kinds:
        found.append(col(Span.kind).in_(q.kinds))
    return found + _common(q, Span.model, Span.provider, Span.started_at)


def _common(q: UsageQuery, model: Any, provider: Any, started: Any) -> list[ColumnElement[bool]]:
    """The conditions spans and model-call messages share, on their own columns."""
    found: list[ColumnElement[bool]] = [
        col(c).in_(values) for values, c in ((q.models, model), (q.providers, provider)) if values
    ]
    if q.started_from is not None:
        found.append(col(started) >= q.started_from)
    if q.started_to is not None:
        found.append(col(started) < q.started_to)
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


def _measures(
    input_tokens: Any, output_tokens: Any, total_tokens: Any, cost: Any, latency: Any, error: Any
) -> list[Any]:
    return [
        input_tokens.label("input_tokens"),
        output_tokens.label("output_tokens"),
        total_tokens.label("total_tokens"),
        cost.label("cost"),
        cast(latency, Float).label("latency"),
        case((error, 1), else_=0).label("error"),
    ]


def _span_rows(ctx: Context, q: UsageQuery) -> Any:
    keys = [GROUP_COLUMNS[g].label(f"key_{i}") for i, g in enumerate(q.group_by)]
    spans = select(
        *keys,
        *_measures(
            col(Span.input_tokens),
            col(Span.output_tokens),
            col(Span.total_tokens),
            col(Span.cost),
            col(Span.duration_ms),
            col(Span.status) == SpanStatus.ERROR,
        ),
    ).join(Trace, col(Trace.id) == col(Span.trace_id))
    if UsageGroupBy.COMPONENT_VERSION in q.group_by:
        # A span counts once for each version it used; a span that used none, under null.
        link = and_(col(SpanComponentVersion.span_id) == col(Span.id), *shown_links(ctx.principal))
        spans = spans.outerjoin(SpanComponentVersion, link)
        if q.component_ids is not None:
            spans = spans.where(
                col(SpanComponentVersion.component_version_id).in_(versions_of(q.component_ids))
            )
    return spans.where(*_span_conditions(ctx, q))


# What a message that is a model call of its own is grouped under.
MESSAGE_KEYS: dict[UsageGroupBy, Any] = {
    UsageGroupBy.MODEL: col(Message.model),
    UsageGroupBy.PROVIDER: col(Message.provider),
    UsageGroupBy.SPAN_KIND: literal(SpanKind.LLM.value),
    UsageGroupBy.CONVERSATION: col(Message.conversation_id),
    UsageGroupBy.DAY: utc_period(col(Message.created_at), "day"),
    UsageGroupBy.HOUR: utc_period(col(Message.created_at), "hour"),
}


def model_call_messages() -> list[ColumnElement[bool]]:
    """Messages that are model calls counted by themselves: they carry usage and no span
    produced them (a produced message shows its span's usage, which the span counts)."""
    return [
        col(Message.span_id).is_(None),
        or_(col(Message.total_tokens) != 0, col(Message.input_tokens) != 0, col(Message.cost) != 0),
    ]


def _message_rows(ctx: Context, q: UsageQuery) -> Any | None:
    """The messages that count as model calls, as rows like _span_rows'; None when the
    filter leaves none (they have no trace user, component version or span kind but LLM)."""
    if q.user_id is not None or q.component_ids is not None:
        return None
    if q.kinds and SpanKind.LLM not in q.kinds:
        return None
    keys = [
        cast(MESSAGE_KEYS.get(g, null()), GROUP_COLUMNS[g].type).label(f"key_{i}")
        for i, g in enumerate(q.group_by)
    ]
    found = [*visible(Message, ctx.principal), *model_call_messages()]
    if q.conversation_ids is not None:
        found.append(col(Message.conversation_id).in_(q.conversation_ids))
    found += _common(q, Message.model, Message.provider, Message.created_at)
    return select(
        *keys,
        *_measures(
            col(Message.input_tokens),
            col(Message.output_tokens),
            col(Message.total_tokens),
            col(Message.cost),
            col(Message.latency_ms),
            col(Message.status) == MessageStatus.ERROR,
        ),
    ).where(*found)


def usage_statement(ctx: Context, q: UsageQuery) -> Any:
    """Spans and the messages that are model calls of their own, aggregated: the one
    usage model that conversations' and traces' totals also keep."""
    if len(set(q.group_by)) != len(q.group_by):
        raise BadInput("`groupBy` lists a grouping twice")
    if q.started_from and q.started_to and q.started_from >= q.started_to:
        raise BadInput("`from` must be before `to`")
    spans, messages = _span_rows(ctx, q), _message_rows(ctx, q)
    every: Any = spans if messages is None else union_all(spans, messages)
    calls = every.subquery("usage_calls")
    keys: list[Any] = [calls.c[f"key_{i}"] for i in range(len(q.group_by))]
    rank, ranked = percentile_columns(calls.c.latency, keys)
    rows = select(calls, rank.label("latency_rank"), ranked.label("latencies")).subquery(
        "usage_rows"
    )
    group: list[Any] = [rows.c[f"key_{i}"] for i in range(len(q.group_by))]
    measured = rows.c.latency, rows.c.latency_rank, rows.c.latencies
    return (
        select(
            *group,
            func.count(),
            func.coalesce(func.sum(rows.c.input_tokens), 0),
            func.coalesce(func.sum(rows.c.output_tokens), 0),
            func.coalesce(func.sum(rows.c.total_tokens), 0),
            func.coalesce(func.sum(rows.c.cost), 0).label("cost"),
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
