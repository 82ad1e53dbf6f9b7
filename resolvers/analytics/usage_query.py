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
from models.enums import SpanKind


class UsageGroupBy(StrEnum):
    MODEL = "MODEL"
    PROVIDER = "PROVIDER"
    COMPONENT_VERSION = "COMPONENT_VERSION"
    SPAN_KIND = "SPAN_KIND"
    CONVERSATION = "CONVERSATION"
    USER = "USER"
    DAY = "DAY"
    HOUR = "HOUR"


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

    @property
    def grouped_by_version(self) -> bool:
        return UsageGroupBy.COMPONENT_VERSION in self.group_by


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
