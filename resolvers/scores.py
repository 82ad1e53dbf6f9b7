"""Reading scores: a target's scores, and their aggregates by name and component version."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, union_all
from sqlmodel import col

from models import ComponentVersion, Score, Span, SpanComponentVersion, Trace
from models.enums import ScoreSource, ScoreTarget
from resolvers.access import visible
from resolvers.analytics.usage import shown_links, versions_of
from resolvers.context import Context
from resolvers.pagination import Ordering, Relation
from resolvers.principal import Principal

# Each target kind: the global id type name of the scored object, and its score column.
TARGET_KEYS = {
    ScoreTarget.MESSAGE: ("Message", "message_id"),
    ScoreTarget.SPAN: ("Span", "span_id"),
    ScoreTarget.TRACE: ("Trace", "trace_id"),
    ScoreTarget.CONVERSATION: ("Conversation", "conversation_id"),
}
# A target's scores, oldest first. Conversation scores are the ones about the
# conversation itself, not every score in it.
_OLDEST_FIRST = Ordering(Score.created_at, Score.id)
SCORES_OF_MESSAGE = Relation(Score, Score.message_id, _OLDEST_FIRST)
SCORES_OF_SPAN = Relation(Score, Score.span_id, _OLDEST_FIRST)
SCORES_OF_TRACE = Relation(Score, Score.trace_id, _OLDEST_FIRST)
SCORES_OF_CONVERSATION = Relation(
    Score,
    Score.conversation_id,
    _OLDEST_FIRST,
    where=(col(Score.target) == ScoreTarget.CONVERSATION,),
)


@dataclass(frozen=True)
class ScoreQuery:
    names: Sequence[str] | None = None
    targets: Sequence[ScoreTarget] | None = None
    sources: Sequence[ScoreSource] | None = None
    conversation_id: uuid.UUID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    # By version: only the versions of these components.
    component_ids: Sequence[uuid.UUID] | None = None


@dataclass
class ScoreSummary:
    name: str
    component_version_id: uuid.UUID | None
    count: int
    value_count: int
    average: float | None
    minimum: float | None
    maximum: float | None
    labels: list[tuple[str, int]] = field(default_factory=list)


def _conditions(ctx: Context, q: ScoreQuery) -> list[ColumnElement[bool]]:
    found = visible(Score, ctx.principal)
    if q.names:
        found.append(col(Score.name).in_(q.names))
    if q.targets:
        found.append(col(Score.target).in_(q.targets))
    if q.sources:
        found.append(col(Score.source).in_(q.sources))
    if q.conversation_id is not None:
        found.append(col(Score.conversation_id) == q.conversation_id)
    if q.created_after is not None:
        found.append(col(Score.created_at) >= q.created_after)
    if q.created_before is not None:
        found.append(col(Score.created_at) < q.created_before)
    return found


def score_versions(
    scores: Any, component_ids: Sequence[uuid.UUID] | None, principal: Principal
) -> Any:
    """(score id, name, value, label, component version id) for every version a score's
    target used: a span's own versions; for a trace, message or conversation, those of
    its spans. Each pair once, however many spans used the version.

    Each target kind is a plain join chain (no correlated IN per row), and the score's
    own columns ride along, so the aggregate needs no join back to the scores: the
    planner misjudged that join and compared every score with every pair (1.9 s on
    100,000 spans, now tens of milliseconds)."""
    link = SpanComponentVersion
    span_of = col(Span.id) == col(link.span_id)
    joins: dict[ScoreTarget, list[tuple[Any, Any]]] = {
        ScoreTarget.SPAN: [(link, col(link.span_id) == scores.c.span_id)],
        ScoreTarget.TRACE: [(Span, col(Span.trace_id) == scores.c.trace_id), (link, span_of)],
        ScoreTarget.MESSAGE: [
            (Trace, col(Trace.message_id) == scores.c.message_id),
            (Span, col(Span.trace_id) == col(Trace.id)),
            (link, span_of),
        ],
        ScoreTarget.CONVERSATION: [
            (Trace, col(Trace.conversation_id) == scores.c.conversation_id),
            (Span, col(Span.trace_id) == col(Trace.id)),
            (link, span_of),
        ],
    }
    version = col(link.component_version_id)
    branches = []
    for target, chain in joins.items():
        branch = select(
            scores.c.id.label("score_id"),
            scores.c.name,
            scores.c.value,
            scores.c.label,
            version.label("version_id"),
        ).select_from(scores)
        for table, onclause in chain:
            branch = branch.join(table, onclause)
        branch = branch.where(scores.c.target == target)
        if component_ids is not None:
            branch = branch.where(version.in_(versions_of(component_ids)))
        branches.append(branch.where(*shown_links(principal)))
    return select(union_all(*branches).subquery()).distinct().subquery("score_versions")


def _grouped(
    ctx: Context, q: ScoreQuery, by_version: bool, measures: Callable[[Any], list[Any]]
) -> Select[Any]:
    """The visible scores matching `q`, grouped by name (and version): the group's keys,
    then `measures` (a function of a subquery with the scores' name, value and label)."""
    scores = select(Score).where(*_conditions(ctx, q)).subquery("scores_found")
    if not by_version:
        statement = select(scores.c.name, *measures(scores)).select_from(scores)
        return statement.group_by(scores.c.name).order_by(scores.c.name)
    links = score_versions(scores, q.component_ids, ctx.principal)
    # Versions in a stable order: by component, then by version number.
    version_order = (col(ComponentVersion.component_id), col(ComponentVersion.version_number))
    return (
        select(links.c.name, links.c.version_id, *measures(links))
        .select_from(links)
        .join(ComponentVersion, col(ComponentVersion.id) == links.c.version_id)
        .group_by(links.c.name, links.c.version_id, *version_order)
        .order_by(links.c.name, *version_order)
    )


def _numbers(scores: Any) -> list[Any]:
    value = scores.c.value
    return [func.count(), func.count(value), func.avg(value), func.min(value), func.max(value)]


async def score_summaries(ctx: Context, q: ScoreQuery, by_version: bool) -> list[ScoreSummary]:
    """Per name (and component version): count, and average/min/max of the values
    (a BOOLEAN score's average is its true rate); label counts of CATEGORICAL ones."""
    keys = 2 if by_version else 1
    rows = await ctx.loaders.fetch(_grouped(ctx, q, by_version, _numbers))
    summaries = {
        tuple(row[:keys]): ScoreSummary(row[0], row[1] if by_version else None, *row[keys:])
        for row in rows
    }
    by_label = _grouped(ctx, q, by_version, lambda scores: [scores.c.label, func.count()])
    label_column = by_label.selected_columns[keys]
    by_label = by_label.where(label_column.is_not(None)).group_by(label_column)
    for row in await ctx.loaders.fetch(by_label.order_by(label_column)):
        summaries[tuple(row[:keys])].labels.append((row[keys], row[keys + 1]))
    return list(summaries.values())
