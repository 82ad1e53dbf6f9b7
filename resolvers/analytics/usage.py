"""`usage`: model calls and spans counted, summed and timed per group.

Counts and sums come from the roll-ups (resolvers.analytics.usage_rollups) for the whole
hours of the range and from the rows for its ragged ends; latencies from the rows while
they are few, else from a latency sketch: the stored one (per day and month, over
everyone or per user) where it can answer, else one counted from the caller's rows.
Every answer equals the one the rows alone give (tests/resolvers/test_usage_rollups.py),
latencies within the sketch's relative error when `approximate` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlmodel import col

from models import ComponentVersion, Message, Span, SpanComponentVersion, Trace
from models.base import from_nanos
from models.enums import MessageStatus, SpanKind, SpanStatus
from resolvers.access import among, among_visible_conversations, visible
from resolvers.analytics.sketch import bucket_sql, bucket_value
from resolvers.analytics.sql import PERCENTILES, percentile, percentile_columns, utc_period
from resolvers.analytics.usage_query import (
    UsageGroup,
    UsageGroupBy,
    UsageQuery,
    versions_of,
)
from resolvers.analytics.usage_rollups import (
    DAY,
    HOUR,
    SUMMED,
    Periods,
    Stored,
    bucket_rows,
    day_rows,
    month_rows,
    rollup_rows,
    stored_days,
    whole_months,
    whole_periods,
)
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.principal import Principal

__all__ = ["UsageGroup", "UsageGroupBy", "UsageQuery", "shown_links", "usage", "versions_of"]

# Up to this many calls, latencies are read exactly from the rows.
EXACT_LIMIT = 50_000


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


def _rows(ctx: Context, q: UsageQuery) -> Any:
    """One row per span and per message that is a model call of its own."""
    spans, messages = _span_rows(ctx, q), _message_rows(ctx, q)
    return spans if messages is None else union_all(spans, messages)


def _key_columns(q: UsageQuery, rows: Any) -> list[Any]:
    """The group key columns of a subquery of `usage` rows (key_0, key_1...)."""
    return [rows.c[f"key_{i}"] for i in range(len(q.group_by))]


def usage_statement(ctx: Context, q: UsageQuery) -> Any:
    """Spans and the messages that are model calls of their own, aggregated from their
    rows: exact latencies, and what the roll-ups must always agree with."""
    calls = _rows(ctx, q).subquery("usage_calls")
    keys: list[Any] = _key_columns(q, calls)
    rank, ranked = percentile_columns(calls.c.latency, keys)
    rows = select(calls, rank.label("latency_rank"), ranked.label("latencies")).subquery(
        "usage_rows"
    )
    group: list[Any] = _key_columns(q, rows)
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


def _check(q: UsageQuery) -> None:
    if len(set(q.group_by)) != len(q.group_by):
        raise BadInput("`groupBy` lists a grouping twice")
    if q.started_from and q.started_to and q.started_from >= q.started_to:
        raise BadInput("`from` must be before `to`")


def _edges(q: UsageQuery, within: Periods) -> list[UsageQuery]:
    """The parts of the query's range outside its whole periods, read from the rows."""
    if within.empty:
        return [q]
    found = []
    if q.started_from is not None and within.start is not None and q.started_from < within.start:
        found.append(replace(q, started_to=within.start))
    if q.started_to is not None and within.end is not None and within.end < q.started_to:
        found.append(replace(q, started_from=within.end))
    return found


def _union(parts: list[Any]) -> Any:
    return parts[0] if len(parts) == 1 else union_all(*parts)


def _grouped(q: UsageQuery, rows: Any, *measures: Any) -> Any:
    keys = _key_columns(q, rows)
    return select(*keys, *measures).group_by(*keys)


def sums_statement(ctx: Context, q: UsageQuery) -> Any:
    """Counts and sums per group: for a caller who sees everything, the per-day rows of
    the range's whole days; the per-hour roll-ups of the whole hours left; the rows at
    the range's ragged ends."""
    parts: list[Any] = []
    rest = [q]
    stored = stored_days(ctx.principal, q)
    if stored is not None:
        days = whole_periods(q, DAY)
        if not days.empty:
            parts.append(day_rows(stored, q, days))
        rest = _edges(q, days)
    for part in rest:
        hours = whole_periods(part, HOUR)
        if not hours.empty:
            parts.append(rollup_rows(ctx.principal, part, hours))
        for edge in _edges(part, hours):
            raw = _rows(ctx, edge).subquery()
            keys = _key_columns(q, raw)
            # Nano-dollars as the roll-ups hold them, whichever part of the union is first.
            cost = type_coerce(raw.c.cost, BigInteger).label("cost")
            measures = (raw.c.input_tokens, raw.c.output_tokens, raw.c.total_tokens, cost)
            parts.append(
                select(*keys, literal(1).label("calls"), *measures, raw.c.error.label("errors"))
            )
    rows = _union(parts).subquery("usage_sums")
    summed = [func.coalesce(func.sum(rows.c[name]), 0) for name in SUMMED]
    keys = _key_columns(q, rows)
    counted = _grouped(q, rows, *summed)
    if keys:
        # A group's delta rows can net to nothing (a span's model changed): no group then.
        # Ungrouped, there is always the one group of everything, as on the rows.
        counted = counted.having(func.sum(rows.c.calls) != 0)
    return counted.order_by(*(k.asc().nulls_last() for k in keys))


def _stored_buckets(stored: Stored, q: UsageQuery, days: Periods) -> list[Any]:
    """The stored buckets of a range of whole days: its whole months' from the monthly
    rows (and those months' day rows not yet compacted), its other days' from the daily
    rows. Grouped by day, the daily rows only."""
    months = Periods(None, None) if UsageGroupBy.DAY in q.group_by else whole_months(days)
    if UsageGroupBy.DAY in q.group_by or months.empty:
        return [bucket_rows(stored, q, days)]
    found = [month_rows(stored, q, months), bucket_rows(stored, q, months, pending=True)]
    for rest in _edges(replace(q, started_from=days.start, started_to=days.end), months):
        found.append(bucket_rows(stored, q, Periods(rest.started_from, rest.started_to)))
    return found


def buckets_statement(ctx: Context, q: UsageQuery) -> Any:
    """Latency bucket counts per group: where a stored sketch can answer (`stored_days`),
    its buckets of the range's whole days and months, plus the rows at the range's
    ragged ends bucketed the same way; elsewhere the caller's rows, bucketed. Either
    way one aggregate, which PostgreSQL may run in parallel, and no ranking of calls."""
    stored = stored_days(ctx.principal, q)
    if stored is not None:
        within = whole_periods(q, DAY)
        parts: list[Any] = [] if within.empty else _stored_buckets(stored, q, within)
        edges = _edges(q, within)
    else:
        parts, edges = [], [q]
    for edge in edges:
        raw = _rows(ctx, edge).subquery()
        keys = _key_columns(q, raw)
        bucket = bucket_sql(raw.c.latency).label("bucket")
        parts.append(
            select(*keys, bucket, literal(1).label("calls")).where(raw.c.latency.is_not(None))
        )
    rows = _union(parts).subquery("usage_buckets")
    calls = func.sum(rows.c.calls)
    # Deltas may net a bucket to nothing (a span deleted): no such bucket then.
    return (
        _grouped(q, rows, rows.c.bucket, calls.label("calls"))
        .group_by(rows.c.bucket)
        .having(calls > 0)
    )


def sketch_statement(ctx: Context, q: UsageQuery) -> Any:
    """Per group, the bucket of each of PERCENTILES by nearest rank (the first bucket
    whose running count reaches p% of the group's calls, as resolvers.analytics.sql
    ranks rows) and the largest bucket: one row a group, whatever the buckets."""
    counted = buckets_statement(ctx, q).subquery("bucket_counts")
    keys = _key_columns(q, counted) or None
    running = func.sum(counted.c.calls).over(partition_by=keys, order_by=counted.c.bucket)
    total = func.sum(counted.c.calls).over(partition_by=keys)
    ranked = select(counted, running.label("seen"), total.label("total")).subquery("ranked")
    seen, bucket = ranked.c.seen, ranked.c.bucket
    picks = [func.min(case((seen * 100 >= p * ranked.c.total, bucket))) for p in PERCENTILES]
    return _grouped(q, ranked, *picks, func.max(bucket))


async def _hides_versions(ctx: Context) -> bool:
    """Whether some component version is hidden from the principal: their spans count as
    using none, which the roll-ups (everyone's links) cannot tell."""
    shown = visible(ComponentVersion, ctx.principal)
    if not shown:
        return False
    hidden = select(col(ComponentVersion.id)).where(not_(and_(*shown))).exists()
    return bool((await ctx.loaders.fetch(select(hidden)))[0][0])


async def _from_rollups(ctx: Context, q: UsageQuery) -> bool:
    if q.component_ids is not None and not q.grouped_by_version:
        return False
    return not (q.grouped_by_version and await _hides_versions(ctx))


Key = tuple[Any, ...]
Latencies = tuple[float | None, ...]


async def _latencies(ctx: Context, q: UsageQuery, calls: int) -> tuple[dict[Key, Latencies], bool]:
    """Latency percentiles and maximum per group, and whether they are sketched: exact
    from the rows while they are few; past EXACT_LIMIT from the sketch's buckets (stored,
    or counted from the rows when the stored ones cannot answer: ranking every call
    sorts them all, twice, which took seconds at millions)."""
    width = len(q.group_by)
    if calls > EXACT_LIMIT:
        picked = await ctx.loaders.fetch(sketch_statement(ctx, q))
        return {
            _key(q, row[:width]): tuple(bucket_value(b) for b in row[width:]) for row in picked
        }, True
    rows = await ctx.loaders.fetch(usage_statement(ctx, q))
    # usage_statement's columns: keys, count, 3 token sums, cost, percentiles, max, errors.
    at = width + 5
    return {_key(q, row[:width]): tuple(row[at : at + 4]) for row in rows}, False


def _key(q: UsageQuery, values: Sequence[Any]) -> Key:
    """A group's key values, alike whichever reader found them."""
    return tuple(
        SpanKind(v) if g is UsageGroupBy.SPAN_KIND and v is not None else v
        for g, v in zip(q.group_by, values, strict=True)
    )


async def usage(ctx: Context, q: UsageQuery) -> list[UsageGroup]:
    _check(q)
    width = len(q.group_by)
    if not await _from_rollups(ctx, q):
        rows = await ctx.loaders.fetch(usage_statement(ctx, q))
        return [
            UsageGroup(dict(zip(q.group_by, _key(q, row[:width]), strict=True)), *row[width:])
            for row in rows
        ]
    sums = await ctx.loaders.fetch(sums_statement(ctx, q))
    calls = sum(row[width] for row in sums)
    latencies, approximate = await _latencies(ctx, q, calls) if q.latencies else ({}, False)
    found = []
    for row in sums:
        key = _key(q, row[:width])
        count, input_tokens, output_tokens, total_tokens, cost, errors = row[width:]
        p50, p95, p99, slowest = latencies.get(key, (None, None, None, None))
        found.append(
            UsageGroup(
                dict(zip(q.group_by, key, strict=True)),
                count,
                input_tokens,
                output_tokens,
                total_tokens,
                from_nanos(cost),
                p50,
                p95,
                p99,
                slowest,
                errors,
                approximate=approximate,
            )
        )
    return found
