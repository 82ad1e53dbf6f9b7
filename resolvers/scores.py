"""Reading scores: a target's scores, and their aggregates by name and component version."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, null, select, union_all
from sqlmodel import col

from models import ComponentVersion, Score, SpanComponentVersion, Trace, TraceVersion
from models.enums import ScoreSource, ScoreTarget
from resolvers.access import visible, visible_by_membership
from resolvers.analytics import score_rollups
from resolvers.analytics.sql import written_in
from resolvers.context import Context
from resolvers.pagination import Ordering, Relation

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
    found = visible_by_membership(Score, ctx.principal)
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


@dataclass(frozen=True)
class VersionsOf:
    """Where the component versions of one kind of target are read: `key` is the
    target's id column, `version` the version column, `joins` lead from the key's table
    to the version's."""

    key: Any
    version: Any
    joins: tuple[tuple[Any, Any], ...] = ()


# A span's versions are its own links; a trace's are its row per version in
# trace_versions (kept from its spans' links by triggers, so no span is read); a
# message's or conversation's are their traces'.
_TRACE_VERSIONS = ((TraceVersion, col(TraceVersion.trace_id) == col(Trace.id)),)
TARGET_LINKS: dict[ScoreTarget, VersionsOf] = {
    ScoreTarget.SPAN: VersionsOf(
        col(SpanComponentVersion.span_id), col(SpanComponentVersion.component_version_id)
    ),
    ScoreTarget.TRACE: VersionsOf(
        col(TraceVersion.trace_id), col(TraceVersion.component_version_id)
    ),
    ScoreTarget.MESSAGE: VersionsOf(
        col(Trace.message_id), col(TraceVersion.component_version_id), _TRACE_VERSIONS
    ),
    ScoreTarget.CONVERSATION: VersionsOf(
        col(Trace.conversation_id), col(TraceVersion.component_version_id), _TRACE_VERSIONS
    ),
}
# A score's target id: exactly the target's own key is set (none for a conversation).
_TARGET_ID = func.coalesce(
    col(Score.span_id), col(Score.trace_id), col(Score.message_id), col(Score.conversation_id)
)


def _partials(value: Any) -> list[Any]:
    """What scores of one group add up to: count, values, their sum, min and max."""
    return [func.count(), func.count(value), func.sum(value), func.min(value), func.max(value)]


_PARTS = ("n", "n_values", "total", "low", "high")


def _versions_used(target: ScoreTarget, targets: Any, shown: Select[Any] | None) -> Select[Any]:
    """(target, target id, version id) for each version the targets of one kind used,
    each pair once however many of its spans used the version."""
    of = TARGET_LINKS[target]
    pairs = select(literal(target.value).label("target"), of.key.label("target_id"), of.version)
    for table, onclause in of.joins:
        pairs = pairs.join(table, onclause)
    pairs = pairs.where(of.key.in_(targets), *([] if shown is None else [of.version.in_(shown)]))
    # Links and trace_versions have each (target, version) once (their primary keys); a
    # message's or conversation's traces may share a version.
    return pairs.group_by(of.key, of.version) if of.joins else pairs


def _shown_versions(ctx: Context, q: ScoreQuery) -> Select[Any] | None:
    """The versions a summary may group under: the principal's to see, and of the asked
    components; None when that is every version."""
    conditions = visible(ComponentVersion, ctx.principal)
    if q.component_ids is not None:
        conditions.append(col(ComponentVersion.component_id).in_(q.component_ids))
    if not conditions:
        return None
    return select(col(ComponentVersion.id)).where(*conditions)


def _by_name(ctx: Context, q: ScoreQuery) -> Select[Any]:
    name, label = col(Score.name), col(Score.label)
    return (
        select(name, null().label("version_id"), label, *_partials(col(Score.value)))
        .where(*_conditions(ctx, q))
        .group_by(name, label)
        .order_by(name, label)
    )


def _by_version(ctx: Context, q: ScoreQuery) -> Select[Any]:
    """From the roll-ups, which keep each score's pairs with versions added up already,
    unless the query asks for a time range, which they do not keep."""
    if score_rollups.answers(q):
        return score_rollups.by_version_from_rollups(ctx.principal, q, _shown_versions(ctx, q))
    return by_version_from_scores(ctx, q)


def by_version_from_scores(ctx: Context, q: ScoreQuery) -> Select[Any]:
    """The same rows from the scores and their targets' versions. Scores are first added
    up per target (and name and label); each target is then joined once to each version
    its spans used, the pairs made unique per target, not per score (carrying every
    score through the span links and de-duplicating the (score, version) pairs
    afterwards was a hash aggregate that spilled to disk).

    A trace's versions come from trace_versions, a few rows a trace, not from its
    spans' links (which took seconds at millions of spans)."""
    conditions = _conditions(ctx, q)
    found = (
        select(
            col(Score.target).label("target"),
            _TARGET_ID.label("target_id"),
            col(Score.name).label("name"),
            col(Score.label).label("label"),
            *(c.label(n) for c, n in zip(_partials(col(Score.value)), _PARTS, strict=True)),
        )
        .where(*conditions)
        .group_by(col(Score.target), _TARGET_ID, col(Score.name), col(Score.label))
        .subquery("scores_found")
    )
    # Each kind's targets straight from the scores, not from `found`: the planner knows
    # how many scores each kind has, and sizes its joins by it.
    shown = _shown_versions(ctx, q)
    used = union_all(
        *(
            _versions_used(
                target,
                select(_TARGET_ID).where(col(Score.target) == written_in(target), *conditions),
                shown,
            )
            for target in TARGET_LINKS
        )
    ).subquery("versions_used")
    version = ComponentVersion
    on_target = (used.c.target == found.c.target) & (used.c.target_id == found.c.target_id)
    # Versions in a stable order: by component, then by version number.
    order = (col(version.component_id), col(version.version_number))
    return (
        select(
            found.c.name,
            col(version.id),
            found.c.label,
            func.sum(found.c.n),
            func.sum(found.c.n_values),
            func.sum(found.c.total),
            func.min(found.c.low),
            func.max(found.c.high),
        )
        .join(used, on_target)
        .join(version, col(version.id) == used.c.component_version_id)
        .group_by(found.c.name, col(version.id), *order, found.c.label)
        .order_by(found.c.name, *order, found.c.label)
    )


@dataclass
class _Sums:
    """A summary added up from its groups by label."""

    count: int = 0
    value_count: int = 0
    total: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    labels: list[tuple[str, int]] = field(default_factory=list)

    def add(
        self, label: str | None, count: int, values: int, total: Any, low: Any, high: Any
    ) -> None:
        # Sums of counts are NUMERIC on PostgreSQL.
        self.count += int(count)
        if values:
            self.value_count += int(values)
            self.total += total
            self.minimum = low if self.minimum is None else min(self.minimum, low)
            self.maximum = high if self.maximum is None else max(self.maximum, high)
        if label is not None:
            self.labels.append((label, count))


async def score_summaries(ctx: Context, q: ScoreQuery, by_version: bool) -> list[ScoreSummary]:
    """Per name (and component version): count, and average/min/max of the values
    (a BOOLEAN score's average is its true rate); label counts of CATEGORICAL ones.
    One statement, grouped by label too: a summary adds up its labels' groups."""
    return summarized(
        await ctx.loaders.fetch(_by_version(ctx, q) if by_version else _by_name(ctx, q))
    )


def summarized(rows: Sequence[Any]) -> list[ScoreSummary]:
    """Summaries from rows of (name, version id, label, count, values, their sum, min,
    max), in the rows' order."""
    sums: dict[tuple[str, uuid.UUID | None], _Sums] = {}
    for name, version_id, label, *partials in rows:
        sums.setdefault((name, version_id), _Sums()).add(label, *partials)
    return [
        ScoreSummary(
            name,
            version_id,
            s.count,
            s.value_count,
            s.total / s.value_count if s.value_count else None,
            s.minimum,
            s.maximum,
            s.labels,
        )
        for (name, version_id), s in sums.items()
    ]
