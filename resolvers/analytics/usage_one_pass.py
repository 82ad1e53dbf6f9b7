"""`usage` from the rows in one pass: the sums and the latency sketch of each group.

Where no roll-up holds any part of the sums (a restricted caller's calls grouped by a
name: resolvers.analytics.usage.sums_statement reads only rows then), reading the sums
and then bucketing the same rows for the sketch scans them twice (two scans of ~230 ms
each for a user who sees 1% of 5M spans). Grouped by (keys, latency bucket) once, the
rows give both: a call without a latency falls in a bucket of null, counted in the sums
and never ranked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, case, func, select, type_coerce

from resolvers.analytics.sketch import bucket_sql
from resolvers.analytics.sql import PERCENTILES
from resolvers.analytics.usage_order import sql_limit, sql_order
from resolvers.analytics.usage_query import UsageQuery
from resolvers.analytics.usage_rollups import SUMMED
from resolvers.analytics.usage_rows import call_rows, key_columns
from resolvers.context import Context


def bucket_picks(q: UsageQuery, counted: Any) -> tuple[Any, list[Any]]:
    """Of a subquery of bucket counts (keys, bucket, calls): a subquery of its rows with
    their running counts, and the aggregates over it that pick, per group, the bucket of
    each of PERCENTILES by nearest rank (the first bucket whose running count reaches p%
    of the group's calls with a latency, as resolvers.analytics.sql ranks rows) and the
    largest bucket. The calls of a null bucket are in neither count."""
    keys = key_columns(q, counted) or None
    timed = case((counted.c.bucket.is_not(None), counted.c.calls), else_=0)
    running = func.sum(timed).over(partition_by=keys, order_by=counted.c.bucket)
    total = func.sum(timed).over(partition_by=keys)
    ranked = select(counted, running.label("seen"), total.label("total")).subquery("ranked")
    seen, bucket = ranked.c.seen, ranked.c.bucket
    # The null bucket is never a pick, whatever its running count (nulls sort last on
    # PostgreSQL, first on SQLite): min and max skip it.
    picks = [func.min(case((seen * 100 >= p * ranked.c.total, bucket))) for p in PERCENTILES]
    return ranked, [*picks, func.max(bucket)]


def one_pass_statement(ctx: Context, q: UsageQuery) -> Any:
    """Per group of the caller's rows: the sums as sums_statement's (in the query's
    order, cut to its `first` groups unless ordered by a latency), then the buckets
    sketch_statement would pick."""
    raw = call_rows(ctx, q).subquery("usage_calls")
    keys = key_columns(q, raw)
    bucket = bucket_sql(raw.c.latency).label("bucket")
    # Nano-dollars, as sums_statement reads them.
    cost = type_coerce(raw.c.cost, BigInteger)
    measures = (raw.c.input_tokens, raw.c.output_tokens, raw.c.total_tokens, cost, raw.c.error)
    counted = (
        select(
            *keys,
            bucket,
            func.count().label("calls"),
            *(func.sum(m).label(name) for m, name in zip(measures, SUMMED[1:], strict=True)),
        )
        .group_by(*keys, bucket)
        .subquery("bucket_sums")
    )
    ranked, picks = bucket_picks(q, counted)
    summed = {name: func.coalesce(func.sum(ranked.c[name]), 0) for name in SUMMED}
    group = key_columns(q, ranked)
    return (
        select(*group, *summed.values(), *picks)
        .group_by(*group)
        .order_by(*sql_order(q, summed, group))
        .limit(sql_limit(q))
    )
