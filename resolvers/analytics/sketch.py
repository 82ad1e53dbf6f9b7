"""The latency sketch: log-spaced buckets (as in DDSketch) that merge by adding counts.

A latency x > 0 falls in bucket b = ceil(log_gamma(x)), the interval (gamma^(b-1),
gamma^b]; reading a bucket back as 2 gamma^b / (gamma + 1) is within RELATIVE_ERROR of
every value in it. Zero latencies have a bucket of their own, read back as 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, cast, func
from sqlalchemy.types import Integer

from resolvers.analytics.sql import PERCENTILES

# The documented bound on a sketched percentile's relative error.
RELATIVE_ERROR = 0.02
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
# The bucket of latencies of 0 ms (or less: clocks can step back).
ZERO_BUCKET = -(2**15)


def bucket_sql(latency: Any) -> Any:
    """The bucket of a latency column, in SQL: the same number migration 0013's triggers
    store (null for a null latency)."""
    log_gamma = func.ln(latency) / math.log(GAMMA)
    return case(
        (latency.is_(None), None),
        (latency <= 0, ZERO_BUCKET),
        else_=cast(func.ceil(log_gamma), Integer),
    )


def bucket_value(bucket: int) -> float:
    if bucket == ZERO_BUCKET:
        return 0.0
    return 2 * GAMMA**bucket / (GAMMA + 1)


def percentiles(counts: Iterable[tuple[int, int]]) -> dict[int | str, float | None]:
    """Nearest-rank PERCENTILES and the maximum from (bucket, count) pairs, as in
    resolvers.analytics.sql: the p-th percentile is the bucket of the ceil(p% * n)-th
    smallest latency."""
    ordered = sorted((b, n) for b, n in counts if n > 0)
    total = sum(n for _, n in ordered)
    found: dict[int | str, float | None] = {p: None for p in PERCENTILES}
    found["max"] = bucket_value(ordered[-1][0]) if ordered else None
    seen = 0
    wanted = sorted(PERCENTILES)
    for bucket, n in ordered:
        seen += n
        while wanted and seen * 100 >= wanted[0] * total:
            found[wanted.pop(0)] = bucket_value(bucket)
    return found
