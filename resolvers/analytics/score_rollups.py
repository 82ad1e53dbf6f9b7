"""`scoreSummary(byComponentVersion: true)` from the score roll-ups (models.score_rollups):
a caller who sees everything reads the per-version totals, anyone else their
conversations' rows; and the roll-ups' compaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from models import ComponentVersion, ScoreRollup, ScoreTotal
from resolvers.access import among_visible_conversations
from resolvers.analytics.compaction import in_one_snapshot, merge_pending
from resolvers.db import SessionFactory
from resolvers.principal import Principal

if TYPE_CHECKING:
    from resolvers.scores import ScoreQuery

# Conversations (or versions) whose rows one compaction transaction merges.
COMPACT_KEYS = 500
# Each table and the key compaction takes its rows by.
GROUPED = ((ScoreRollup, ScoreRollup.conversation_id), (ScoreTotal, ScoreTotal.version_id))
# pg_try_advisory_xact_lock's key: one compaction at a time.
COMPACTION_LOCK = 0x53434F52  # "SCOR"


def answers(q: ScoreQuery) -> bool:
    """Whether the roll-ups hold what the query asks: they keep no time."""
    return q.created_after is None and q.created_before is None


def _conditions(table: Any, principal: Principal, q: ScoreQuery) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if table is ScoreRollup:
        found += among_visible_conversations(col(ScoreRollup.conversation_id), principal)
        if q.conversation_id is not None:
            found.append(col(ScoreRollup.conversation_id) == q.conversation_id)
    asked: tuple[tuple[Any, Any], ...] = (
        (q.names, table.name),
        (q.targets, table.target),
        (q.sources, table.source),
    )
    for values, column in asked:
        if values:
            found.append(col(column).in_(values))
    return found


def by_version_from_rollups(
    principal: Principal, q: ScoreQuery, shown: Select[Any] | None
) -> Select[Any]:
    """The rows resolvers.scores adds summaries up from: (name, version id, label,
    count, values, their sum, min, max), by name, component, version number and label;
    only versions in `shown` (None: all)."""
    everyone = principal.unrestricted and q.conversation_id is None
    table: Any = ScoreTotal if everyone else ScoreRollup
    found = _conditions(table, principal, q)
    if shown is not None:
        found.append(col(table.version_id).in_(shown))
    keys = (col(table.name), col(table.version_id), col(table.label), col(table.value))
    # A value's rows that add up to nothing (deltas not merged yet) are no score at all:
    # they must not be a minimum or maximum.
    counted = func.sum(col(table.scores))
    values = (
        select(*keys, counted.label("n"))
        .where(*found)
        .group_by(*keys)
        .having(counted != 0)
        .subquery("score_values")
    )
    name, version_id, label, value, n = values.c
    version = ComponentVersion
    order = (col(version.component_id), col(version.version_number))
    return (
        select(
            name,
            version_id,
            label,
            func.sum(n),
            func.sum(case((value.is_not(None), n), else_=0)),
            func.sum(value * n),
            func.min(value),
            func.max(value),
        )
        .join(version, col(version.id) == version_id)
        .group_by(name, version_id, *order, label)
        .order_by(name, *order, label)
    )


async def compact(sessions: SessionFactory) -> bool:
    """Merge the delta rows of up to COMPACT_KEYS conversations (and versions) into one
    row per key (resolvers.analytics.compaction), so that reads sum few rows. True when
    keys were left for another call (false too when another process is compacting)."""

    async def merge(session: AsyncSession) -> bool:
        more = False
        for table, key in GROUPED:
            merged = await merge_pending(session, table, col(key), ("scores",), COMPACT_KEYS)
            more |= merged == COMPACT_KEYS
        return more

    return await in_one_snapshot(sessions, COMPACTION_LOCK, merge)
