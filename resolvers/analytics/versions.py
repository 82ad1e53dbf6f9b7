"""`Component.versionComparison`: the same figures for every version of a component."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from models import ComponentVersion
from resolvers.analytics.usage import UsageGroup, UsageGroupBy, UsageQuery, usage
from resolvers.context import Context
from resolvers.relations import VERSIONS_OF_COMPONENT
from resolvers.scores import ScoreQuery, ScoreSummary, score_summaries


@dataclass
class VersionFigures:
    version: ComponentVersion
    # None when no visible span used the version: every figure is then zero or null.
    spans: UsageGroup | None = None
    scores: list[ScoreSummary] = field(default_factory=list)


def version_comparisons(ctx: Context) -> Any:
    """Loader: component id -> VersionFigures per version, in version order. A batch of
    components costs three statements: their versions, span usage, score summaries."""

    async def load(component_ids: list[uuid.UUID]) -> list[list[VersionFigures]]:
        versions = await ctx.loaders.rows_by(VERSIONS_OF_COMPONENT).load_many(component_ids)
        found = {v.id: VersionFigures(v) for rows in versions for v in rows}
        by_version = UsageQuery(
            group_by=[UsageGroupBy.COMPONENT_VERSION], component_ids=component_ids
        )
        for group in await usage(ctx, by_version):
            found[group.key[UsageGroupBy.COMPONENT_VERSION]].spans = group
        scores = ScoreQuery(component_ids=component_ids)
        for summary in await score_summaries(ctx, scores, by_version=True):
            assert summary.component_version_id is not None
            found[summary.component_version_id].scores.append(summary)
        return [[found[v.id] for v in rows] for rows in versions]

    return ctx.loaders.custom("version_comparisons", load)
