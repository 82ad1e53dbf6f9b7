"""`usage` read from the rows themselves: one row per span and per message that is a
model call of its own, grouped, with exact (nearest-rank) latencies. Every roll-up
answer (resolvers.analytics.usage) must equal this one."""

from __future__ import annotations

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
    true,
    union_all,
)
from sqlmodel import col

from models import ComponentVersion, Message, Span, SpanComponentVersion, Trace
from models.enums import MessageStatus, ParticipantType, SpanKind, SpanStatus
from resolvers.access import among, among_visible_conversations, visible
from resolvers.analytics.sql import PERCENTILES, percentile, percentile_columns, utc_period
from resolvers.analytics.usage_query import MESSAGE_STATUS, UsageGroupBy, UsageQuery, versions_of
from resolvers.context import Context
from resolvers.principal import Principal

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
    UsageGroupBy.STATUS: col(Span.status),
    UsageGroupBy.SPAN_NAME: col(Span.name),
    UsageGroupBy.TOOL: col(Span.tool_name),
    UsageGroupBy.AGENT: col(Trace.agent_id),
}


def _span_conditions(ctx: Context, q: UsageQuery) -> list[ColumnElement[bool]]:
    # The trace is joined anyway: its visibility is the span's.
    found = among_visible_conversations(col(Trace.conversation_id), ctx.principal)
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


def shown_links(principal: Principal) -> list[ColumnElement[bool]]:
    """Links of spans to versions the principal may see: another user's private versions
    are no group of theirs (their spans count as using none)."""
    shown = visible(ComponentVersion, principal)
    if not shown:
        return []
    shown_ids = select(col(ComponentVersion.id)).where(*shown)
    return [among(col(SpanComponentVersion.component_version_id), shown_ids)]


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


def _version_links(ctx: Context) -> tuple[Any, Any, Any]:
    """What a span's rows join to count it under each version it used (the joined
    table or subquery, its join condition, its version column). On PostgreSQL a lateral
    subquery fenced by OFFSET 0, so each span's links are looked up by index: as a
    plain join, the planner hash-joined a scan of every link (2.25M at L, over 100 ms)
    to the few thousand spans at a range's ragged end. SQLite joins the table."""
    shown = shown_links(ctx.principal)
    if ctx.database.engine.dialect.name != "postgresql":
        link = and_(col(SpanComponentVersion.span_id) == col(Span.id), *shown)
        return SpanComponentVersion, link, col(SpanComponentVersion.component_version_id)
    lookup = (
        select(col(SpanComponentVersion.component_version_id).label("version_id"))
        .where(col(SpanComponentVersion.span_id) == col(Span.id), *shown)
        .offset(0)
        .lateral("span_versions")
    )
    return lookup, true(), lookup.c.version_id


def _span_rows(ctx: Context, q: UsageQuery) -> Any:
    columns = GROUP_COLUMNS
    if q.grouped_by_version:
        links, joined_on, version = _version_links(ctx)
        columns = {**GROUP_COLUMNS, UsageGroupBy.COMPONENT_VERSION: version}
    keys = [columns[g].label(f"key_{i}") for i, g in enumerate(q.group_by)]
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
    if q.grouped_by_version:
        # A span counts once for each version it used; a span that used none, under null.
        spans = spans.outerjoin(links, joined_on)
        if q.component_ids is not None:
            spans = spans.where(version.in_(versions_of(q.component_ids)))
    return spans.where(*_span_conditions(ctx, q))


# What a message that is a model call of its own is grouped under (null: no such thing,
# as its span name and tool).
MESSAGE_KEYS: dict[UsageGroupBy, Any] = {
    UsageGroupBy.MODEL: col(Message.model),
    UsageGroupBy.PROVIDER: col(Message.provider),
    UsageGroupBy.SPAN_KIND: literal(SpanKind.LLM.value),
    UsageGroupBy.CONVERSATION: col(Message.conversation_id),
    UsageGroupBy.DAY: utc_period(col(Message.created_at), "day"),
    UsageGroupBy.HOUR: utc_period(col(Message.created_at), "hour"),
    UsageGroupBy.STATUS: case(
        {status: counted.value for status, counted in MESSAGE_STATUS.items()},
        value=col(Message.status),
    ),
    # The agent that sent it; a user's or the system's message ran for no agent.
    UsageGroupBy.AGENT: case(
        (col(Message.sender_type) == ParticipantType.AGENT, col(Message.sender_id))
    ),
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
    found = [
        *among_visible_conversations(col(Message.conversation_id), ctx.principal),
        *model_call_messages(),
    ]
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


def call_rows(ctx: Context, q: UsageQuery) -> Any:
    """One row per span and per message that is a model call of its own."""
    spans, messages = _span_rows(ctx, q), _message_rows(ctx, q)
    return spans if messages is None else union_all(spans, messages)


def key_columns(q: UsageQuery, rows: Any) -> list[Any]:
    """The group key columns of a subquery of `usage` rows (key_0, key_1...)."""
    return [rows.c[f"key_{i}"] for i in range(len(q.group_by))]


def usage_statement(ctx: Context, q: UsageQuery) -> Any:
    """Spans and the messages that are model calls of their own, aggregated from their
    rows: exact latencies, and what the roll-ups must always agree with."""
    calls = call_rows(ctx, q).subquery("usage_calls")
    keys: list[Any] = key_columns(q, calls)
    rank, ranked = percentile_columns(calls.c.latency, keys)
    rows = select(calls, rank.label("latency_rank"), ranked.label("latencies")).subquery(
        "usage_rows"
    )
    group: list[Any] = key_columns(q, rows)
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
