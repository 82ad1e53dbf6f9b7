"""`usage` from the roll-ups (models.rollups): sums per conversation and hour, latency
buckets per day, read for the whole hours and days of a range, and compacted now and then."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlmodel
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    type_coerce,
)
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from models import LatencyBucket, UsageDay, UsageRollup
from models.rollups import Scope
from resolvers.access import visible_conversation_ids
from resolvers.analytics.sql import utc_period
from resolvers.analytics.usage_query import UsageGroupBy, UsageQuery, versions_of
from resolvers.db import SessionFactory
from resolvers.ingest.rows import dialect_of
from resolvers.principal import Principal

By = UsageGroupBy
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
# Groupings the latency buckets hold (they keep no conversation, user or hour).
SKETCHED = frozenset({By.MODEL, By.PROVIDER, By.SPAN_KIND, By.DAY, By.COMPONENT_VERSION})
# Roll-up periods merged per compaction transaction.
COMPACT_PERIODS = 200
SUMMED = ("calls", "input_tokens", "output_tokens", "total_tokens", "cost", "errors")
# Each roll-up table and the period its rows are per.
PERIODS = (
    (UsageRollup, UsageRollup.hour),
    (UsageDay, UsageDay.day),
    (LatencyBucket, LatencyBucket.day),
)
# pg_try_advisory_xact_lock's key: one compaction at a time.
COMPACTION_LOCK = 0x524F4C4C  # "ROLL"


@dataclass(frozen=True)
class Periods:
    """A time range [start, end) of the roll-ups' whole periods (None: unbounded)."""

    start: datetime | None
    end: datetime | None

    @property
    def empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start >= self.end


def whole_periods(q: UsageQuery, period: timedelta) -> Periods:
    """The periods that lie entirely within the query's range."""
    start = q.started_from and _floor(q.started_from, period)
    if start is not None and q.started_from is not None and start < q.started_from:
        start += period
    end = q.started_to and _floor(q.started_to, period)
    return Periods(start, end)


def _floor(moment: datetime, period: timedelta) -> datetime:
    if period == DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def _version_key(table: Any) -> Any:
    return case((col(table.scope) == Scope.VERSION, col(table.version_id)))


def _keys(table: Any, time: Any, q: UsageQuery) -> list[Any]:
    columns: dict[By, Any] = {
        By.MODEL: col(table.model),
        By.PROVIDER: col(table.provider),
        By.SPAN_KIND: col(table.kind),
        By.COMPONENT_VERSION: _version_key(table),
        By.DAY: utc_period(time, "day"),
        By.HOUR: utc_period(time, "hour"),
    }
    if table is UsageRollup:
        columns[By.CONVERSATION] = col(UsageRollup.conversation_id)
        columns[By.USER] = col(UsageRollup.user_id)
    return [columns[g].label(f"key_{i}") for i, g in enumerate(q.group_by)]


def _conditions(table: Any, time: Any, q: UsageQuery, within: Periods) -> list[Any]:
    found: list[Any] = []
    if q.grouped_by_version:
        # Grouped by version: a span under each of its versions, and under none (ALL
        # plus LINKED) if it used none; with `component_ids`, only under those versions.
        if q.component_ids is not None:
            found.append(col(table.scope) == Scope.VERSION)
            found.append(col(table.version_id).in_(versions_of(q.component_ids)))
        else:
            found.append(col(table.scope).in_(list(Scope)))
    else:
        found.append(col(table.scope) == Scope.ALL)
    for values, column in ((q.kinds, table.kind), (q.models, table.model)):
        if values:
            found.append(col(column).in_([str(v) for v in values]))
    if q.providers:
        found.append(col(table.provider).in_(q.providers))
    if within.start is not None:
        found.append(time >= within.start)
    if within.end is not None:
        found.append(time < within.end)
    return found


def visible_conversations(principal: Principal) -> list[ColumnElement[bool]]:
    shown = visible_conversation_ids(principal)
    return [] if shown is None else [col(UsageRollup.conversation_id).in_(shown)]


def rollup_rows(principal: Principal, q: UsageQuery, within: Periods) -> Any:
    """The roll-up rows of the range's whole hours, shaped as `usage` rows with `calls`."""
    hour = col(UsageRollup.hour)
    found = _conditions(UsageRollup, hour, q, within) + visible_conversations(principal)
    if q.conversation_ids is not None:
        found.append(col(UsageRollup.conversation_id).in_(q.conversation_ids))
    if q.user_id is not None:
        found.append(col(UsageRollup.user_id) == q.user_id)
    return _summed(UsageRollup, hour, q).where(*found)


def day_rows(q: UsageQuery, within: Periods) -> Any:
    """The per-day rows of the range's whole days (for a caller who sees everything,
    with no conversation or user filter: see `sketched`)."""
    day = col(UsageDay.day)
    return _summed(UsageDay, day, q).where(*_conditions(UsageDay, day, q, within))


def _summed(table: Any, time: Any, q: UsageQuery) -> Any:
    # Nano-dollars as ints, as in every part of the union (whose columns go by position).
    sums = [type_coerce(col(getattr(table, name)), BigInteger).label(name) for name in SUMMED]
    return select(*_keys(table, time, q), *sums)


def sketched(principal: Principal, q: UsageQuery) -> bool:
    """Whether the per-day tables (sums and latency buckets) can answer: they hold
    everyone's calls, per day, by no conversation, user or hour."""
    return (
        principal.unrestricted
        and q.conversation_ids is None
        and q.user_id is None
        and set(q.group_by) <= SKETCHED
    )


def bucket_rows(q: UsageQuery, within: Periods) -> Any:
    """The latency buckets of the range's whole days, as (keys..., bucket, calls)."""
    day = col(LatencyBucket.day)
    return select(
        *_keys(LatencyBucket, day, q),
        col(LatencyBucket.bucket).label("bucket"),
        col(LatencyBucket.calls).label("calls"),
    ).where(*_conditions(LatencyBucket, day, q, within))


async def compact(sessions: SessionFactory) -> bool:
    """Merge the delta rows of up to COMPACT_PERIODS periods per table into one row per
    key, so that reads sum few rows. One transaction that sees one snapshot (REPEATABLE
    READ on PostgreSQL; SQLite's writer holds the write lock throughout), so no sum
    changes: a delta committed meanwhile is neither merged nor deleted. Rows of a key
    that nets to nothing go. True when periods were left for another call (false too
    when another process is compacting)."""
    async with sessions() as session:
        if dialect_of(session) == "postgresql":
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            locked = sqlmodel.select(func.pg_try_advisory_xact_lock(COMPACTION_LOCK))
            if not (await session.exec(locked)).one():
                return False
        more = False
        for table, period in PERIODS:
            more |= await _compact(session, table, col(period)) == COMPACT_PERIODS
        await session.commit()
    return more


async def _compact(session: AsyncSession, table: Any, period: Any) -> int:
    """Merge the pending periods of one table; how many there were."""
    pending = (
        sqlmodel.select(period)
        .where(col(table.compacted).is_(False))
        .distinct()
        .limit(COMPACT_PERIODS)
    )
    periods = list(await session.exec(pending))
    if not periods:
        return 0
    newest = (await session.exec(sqlmodel.select(func.max(col(table.id))))).one()
    mine = [period.in_(periods), col(table.id) <= newest]
    keys = [c for c in table.__table__.c if c.name not in {"id", "compacted", *SUMMED}]
    sums = [func.sum(c) for c in table.__table__.c if c.name in SUMMED]
    merged = (
        select(*keys, *sums, literal(True))
        .where(*mine)
        .group_by(*keys)
        .having(func.sum(table.calls) != 0)
    )
    names = [c.name for c in keys] + [c.name for c in table.__table__.c if c.name in SUMMED]
    await session.exec(insert(table).from_select([*names, "compacted"], merged))
    await session.exec(delete(table).where(*mine))
    return len(periods)
