"""`usage`: model calls and spans counted, summed and timed per group.

Counts and sums come from the roll-ups (resolvers.analytics.usage_rollups) for the whole
hours of the range and from the rows (resolvers.analytics.usage_rows) for its ragged
ends; grouped by status, span name, tool or agent, which the hourly roll-ups do not
keep, from the per-name days and the rows. Latencies come from the rows while they are
few, else from a latency sketch: the stored one (per day and month, over everyone, per
user or per name) where it can answer, else one counted from the caller's rows; where
the rows alone hold the sums, that sketch is counted in the same pass as the sums
(resolvers.analytics.usage_one_pass).
Every answer equals the one the rows alone give (tests/resolvers/test_usage_rollups.py),
latencies within the sketch's relative error when `approximate` says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import BigInteger, and_, func, literal, not_, select, type_coerce, union_all
from sqlmodel import col

from models import ComponentVersion
from models.base import from_nanos
from models.enums import SpanKind, SpanStatus
from resolvers.access import visible
from resolvers.analytics.sketch import bucket_sql, bucket_value
from resolvers.analytics.sql import PERCENTILES
from resolvers.analytics.usage_one_pass import bucket_picks, one_pass_statement
from resolvers.analytics.usage_order import (
    check_first,
    ordered,
    sql_limit,
    sql_order,
    top_conversations,
)
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
from resolvers.analytics.usage_rows import call_rows, key_columns, usage_statement
from resolvers.context import Context
from resolvers.errors import BadInput

__all__ = ["UsageGroup", "UsageGroupBy", "UsageQuery", "usage", "usage_statement", "versions_of"]

# Up to this many calls, latencies are read exactly from the rows.
EXACT_LIMIT = 50_000


def _check(q: UsageQuery) -> None:
    if len(set(q.group_by)) != len(q.group_by):
        raise BadInput("`groupBy` lists a grouping twice")
    if q.started_from and q.started_to and q.started_from >= q.started_to:
        raise BadInput("`from` must be before `to`")
    check_first(q)


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
    keys = key_columns(q, rows)
    return select(*keys, *measures).group_by(*keys)


def _sum_parts(ctx: Context, q: UsageQuery) -> tuple[list[Any], list[UsageQuery]]:
    """Where the sums of the query's range are read: the roll-up parts (for a caller who
    sees everything, the per-day rows of the range's whole days; the per-hour roll-ups
    of the whole hours left) and the ranges left, read from the rows."""
    parts: list[Any] = []
    rest = [q]
    stored = stored_days(ctx.principal, q)
    if stored is not None:
        days = whole_periods(q, DAY)
        if not days.empty:
            parts.append(day_rows(stored, q, days))
        rest = _edges(q, days)
    edges: list[UsageQuery] = []
    for part in rest:
        # The hourly roll-ups keep no status, span name, tool or agent: grouped by one,
        # the hours the days leave are read from the rows.
        if q.grouped_by_name:
            edges.append(part)
            continue
        hours = whole_periods(part, HOUR)
        if not hours.empty:
            parts.append(rollup_rows(ctx.principal, part, hours))
        edges += _edges(part, hours)
    return parts, edges


def sums_statement(ctx: Context, q: UsageQuery) -> Any:
    """Counts and sums per group: the roll-up parts of _sum_parts and the rows of the
    ranges it leaves. In the query's order and cut to its `first` groups, unless the
    order is by a latency (resolvers.analytics.usage_order)."""
    parts, edges = _sum_parts(ctx, q)
    for edge in edges:
        raw = call_rows(ctx, edge).subquery()
        keys = key_columns(q, raw)
        # Nano-dollars as the roll-ups hold them, whichever part of the union is first.
        cost = type_coerce(raw.c.cost, BigInteger).label("cost")
        measures = (raw.c.input_tokens, raw.c.output_tokens, raw.c.total_tokens, cost)
        parts.append(
            select(*keys, literal(1).label("calls"), *measures, raw.c.error.label("errors"))
        )
    rows = _union(parts).subquery("usage_sums")
    summed = {name: func.coalesce(func.sum(rows.c[name]), 0) for name in SUMMED}
    keys = key_columns(q, rows)
    counted = _grouped(q, rows, *summed.values())
    if keys:
        # A group's delta rows can net to nothing (a span's model changed): no group then.
        # Ungrouped, there is always the one group of everything, as on the rows.
        counted = counted.having(func.sum(rows.c.calls) != 0)
    return counted.order_by(*sql_order(q, summed, keys)).limit(sql_limit(q))


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
        raw = call_rows(ctx, edge).subquery()
        keys = key_columns(q, raw)
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
    """Per group, the bucket of each of PERCENTILES and the largest bucket
    (resolvers.analytics.usage_one_pass.bucket_picks): one row a group, whatever the
    buckets."""
    ranked, picks = bucket_picks(q, buckets_statement(ctx, q).subquery("bucket_counts"))
    return _grouped(q, ranked, *picks)


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
        return _sketched(q, await ctx.loaders.fetch(sketch_statement(ctx, q))), True
    rows = await ctx.loaders.fetch(usage_statement(ctx, q))
    # usage_statement's columns: keys, count, 3 token sums, cost, percentiles, max, errors.
    at = width + 5
    return {_key(q, row[:width]): tuple(row[at : at + 4]) for row in rows}, False


def _sketched(q: UsageQuery, picked: Sequence[Any]) -> dict[Key, Latencies]:
    """Latencies read back from the buckets picked per group (each row's last columns:
    one per percentile, then the largest; null where the group has no latency)."""
    width, last = len(q.group_by), len(PERCENTILES) + 1
    return {
        _key(q, row[:width]): tuple(None if b is None else bucket_value(b) for b in row[-last:])
        for row in picked
    }


async def _measured(
    ctx: Context, q: UsageQuery
) -> tuple[Sequence[Any], dict[Key, Latencies], bool]:
    """The sums per group (sums_statement's rows), the latencies and whether they are
    sketched. Where the rows alone hold the sums and latencies are wanted, one pass over
    them gives the sums and the sketch: past EXACT_LIMIT that is all; below it, the
    latencies stay exact, read in a second pass over those few rows."""
    width = len(q.group_by)
    if q.needs_latencies and not _sum_parts(ctx, q)[0]:
        found = await ctx.loaders.fetch(one_pass_statement(ctx, q))
        sums: Sequence[Any] = [row[: width + len(SUMMED)] for row in found]
        if sum(row[width] for row in sums) > EXACT_LIMIT:
            return sums, _sketched(q, found), True
    else:
        sums = await ctx.loaders.fetch(sums_statement(ctx, q))
    if not q.needs_latencies:
        return sums, {}, False
    return sums, *await _latencies(ctx, _timed(q, sums), sum(row[width] for row in sums))


# Key values the roll-ups hold as strings, as the rows' enums.
KEY_TYPES = {UsageGroupBy.SPAN_KIND: SpanKind, UsageGroupBy.STATUS: SpanStatus}


def _key(q: UsageQuery, values: Sequence[Any]) -> Key:
    """A group's key values, alike whichever reader found them."""
    return tuple(
        KEY_TYPES[g](v) if g in KEY_TYPES and v is not None else v
        for g, v in zip(q.group_by, values, strict=True)
    )


def _timed(q: UsageQuery, sums: Sequence[Any]) -> UsageQuery:
    """What latencies are read of: when the sums kept the first groups by conversation,
    those conversations' calls alone (a top-N of thousands of conversations then ranks
    or buckets a few conversations' calls, not all of them)."""
    if q.first is None or q.ordered_by_latency or UsageGroupBy.CONVERSATION not in q.group_by:
        return q
    at = list(q.group_by).index(UsageGroupBy.CONVERSATION)
    kept = {row[at] if isinstance(row[at], uuid.UUID) else uuid.UUID(row[at]) for row in sums}
    return replace(q, conversation_ids=sorted(kept))


async def usage(ctx: Context, q: UsageQuery) -> list[UsageGroup]:
    _check(q)
    width = len(q.group_by)
    tops = await top_conversations(ctx, q)
    if tops is not None:
        q = replace(q, conversation_ids=tops)
    if not await _from_rollups(ctx, q):
        rows = await ctx.loaders.fetch(usage_statement(ctx, q))
        return ordered(
            q,
            [
                UsageGroup(dict(zip(q.group_by, _key(q, row[:width]), strict=True)), *row[width:])
                for row in rows
            ],
        )
    sums, latencies, approximate = await _measured(ctx, q)
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
    return ordered(q, found)
