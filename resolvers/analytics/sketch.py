"""The latency sketch: log-spaced buckets (as in DDSketch) that merge by adding counts.

A latency x > 0 falls in bucket b = ceil(log_gamma(x)), the interval (gamma^(b-1),
gamma^b]; reading a bucket back as 2 gamma^b / (gamma + 1) is within RELATIVE_ERROR of
every value in it. Zero latencies have a bucket of their own, read back as 0.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import case, cast, func
from sqlalchemy.types import Integer

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
