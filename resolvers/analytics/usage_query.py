"""What `usage` is asked and answers, shared by its row and roll-up readers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from models import ComponentVersion
from models.enums import MessageStatus, SpanKind, SpanStatus


class UsageGroupBy(StrEnum):
    MODEL = "MODEL"
    PROVIDER = "PROVIDER"
    COMPONENT_VERSION = "COMPONENT_VERSION"
    SPAN_KIND = "SPAN_KIND"
    CONVERSATION = "CONVERSATION"
    USER = "USER"
    DAY = "DAY"
    HOUR = "HOUR"
    STATUS = "STATUS"
    SPAN_NAME = "SPAN_NAME"
    TOOL = "TOOL"
    AGENT = "AGENT"


# The span status a model-call message counts under: a message still streaming has not
# ended, as a span whose status is unset.
MESSAGE_STATUS = {
    MessageStatus.COMPLETE: SpanStatus.OK,
    MessageStatus.ERROR: SpanStatus.ERROR,
    MessageStatus.STREAMING: SpanStatus.UNSET,
}


# Groupings by what a call was and who ran it, which the hourly roll-ups do not hold.
BY_NAME = frozenset(
    {UsageGroupBy.STATUS, UsageGroupBy.SPAN_NAME, UsageGroupBy.TOOL, UsageGroupBy.AGENT}
)


class UsageMeasure(StrEnum):
    """What groups can be ordered by: each names a UsageGroup attribute."""

    COUNT = "count"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    TOTAL_TOKENS = "total_tokens"
    COST = "cost"
    ERROR_COUNT = "error_count"
    ERROR_RATE = "error_rate"
    LATENCY_P50 = "latency_p50"
    LATENCY_P95 = "latency_p95"
    LATENCY_P99 = "latency_p99"
    LATENCY_MAX = "latency_max"


LATENCY_MEASURES = frozenset(
    {
        UsageMeasure.LATENCY_P50,
        UsageMeasure.LATENCY_P95,
        UsageMeasure.LATENCY_P99,
        UsageMeasure.LATENCY_MAX,
    }
)
# The most groups `first` may ask for.
MAX_FIRST = 1000


@dataclass(frozen=True)
class UsageOrder:
    measure: UsageMeasure
    descending: bool = True


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
    # Whether latency percentiles and maximum are wanted (they cost the most).
    latencies: bool = True
    # Groups by this measure (ties in key order), else in key order; the first `first`.
    order: UsageOrder | None = None
    first: int | None = None

    @property
    def grouped_by_version(self) -> bool:
        return UsageGroupBy.COMPONENT_VERSION in self.group_by

    @property
    def grouped_by_name(self) -> bool:
        return not BY_NAME.isdisjoint(self.group_by)

    @property
    def ordered_by_latency(self) -> bool:
        return self.order is not None and self.order.measure in LATENCY_MEASURES

    @property
    def needs_latencies(self) -> bool:
        """Latencies are read when asked for, or to order by."""
        return self.latencies or self.ordered_by_latency


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
    # Latencies read from the sketch (within its relative error) rather than the rows.
    approximate: bool = False

    @property
    def error_rate(self) -> float:
        return self.error_count / self.count if self.count else 0.0


def versions_of(component_ids: Sequence[uuid.UUID]) -> Any:
    return select(col(ComponentVersion.id)).where(
        col(ComponentVersion.component_id).in_(component_ids)
    )
