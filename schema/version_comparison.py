"""`Component.versionComparison`: a component's versions side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers.analytics import versions as comparison
from schema.node import from_row
from schema.scalars import Long
from schema.score import ScoreSummary

if TYPE_CHECKING:
    from schema.component import ComponentVersion

ComponentVersionT = Annotated["ComponentVersion", strawberry.lazy("schema.component")]


@strawberry.type(
    description="The spans you can see that used one version, and the scores of what they "
    "belong to (as scoreSummary(byComponentVersion: true)). Latency percentiles are "
    "nearest-rank, as in `usage`; a version no span used has zeros and nulls."
)
class VersionComparison:
    span_count: Long
    input_tokens: Long
    output_tokens: Long
    total_tokens: Long
    cost: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    error_count: Long
    error_rate: float
    scores: list[ScoreSummary] = strawberry.field(description="By score name.")
    figures: strawberry.Private[comparison.VersionFigures]

    @strawberry.field
    def version(self) -> ComponentVersionT:
        from schema.component import ComponentVersion

        return from_row(ComponentVersion, self.figures.version)

    @classmethod
    def of(cls, figures: comparison.VersionFigures) -> VersionComparison:
        spans = figures.spans
        return cls(
            span_count=spans.count if spans else 0,
            input_tokens=spans.input_tokens if spans else 0,
            output_tokens=spans.output_tokens if spans else 0,
            total_tokens=spans.total_tokens if spans else 0,
            cost=float(spans.cost) if spans else 0.0,
            latency_p50_ms=spans.latency_p50 if spans else None,
            latency_p95_ms=spans.latency_p95 if spans else None,
            error_count=spans.error_count if spans else 0,
            error_rate=spans.error_rate if spans else 0.0,
            scores=[ScoreSummary.of(s) for s in figures.scores],
            figures=figures,
        )
