"""`usage` from the roll-ups (models.rollups): sums per conversation and hour, latency
buckets per day and month, read for the whole hours, days and months of a range, and
compacted now and then."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    case,
    func,
    insert,
    inspect,
    literal,
    not_,
    select,
    type_coerce,
)
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from models import LatencyBucket, LatencyMonth, UsageDay, UsageRollup
from models.rollups import Scope
from resolvers.access import among_visible_conversations
from resolvers.analytics.compaction import in_one_snapshot, merge_pending
from resolvers.analytics.sql import utc_period
from resolvers.analytics.usage_query import UsageGroupBy, UsageQuery, versions_of
from resolvers.db import SessionFactory
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
    # After the days: their compaction adds to the months (_add_to_months).
    (LatencyMonth, LatencyMonth.month),
)
# The keys compaction writes rows in order of, in this order (the rest follow in column
# order): a conversation's rows together, and a day's rows of one scope.
CLUSTERED = ("conversation_id", "day", "scope")
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


def rollup_rows(principal: Principal, q: UsageQuery, within: Periods) -> Any:
    """The roll-up rows of the range's whole hours, shaped as `usage` rows with `calls`."""
    hour = col(UsageRollup.hour)
    found = _conditions(UsageRollup, hour, q, within)
    found += among_visible_conversations(col(UsageRollup.conversation_id), principal)
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


def whole_months(days: Periods) -> Periods:
    """The UTC months that lie entirely within a range of whole days."""
    start = days.start and _month_floor(days.start)
    if start is not None and days.start is not None and start < days.start:
        start = _month_floor(start + timedelta(days=32))
    return Periods(start, days.end and _month_floor(days.end))


def _month_floor(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def bucket_rows(q: UsageQuery, within: Periods, *, pending: bool = False) -> Any:
    """The latency buckets of the range's whole days (only those not yet compacted, if
    `pending`), as (keys..., bucket, calls)."""
    found = _conditions(LatencyBucket, col(LatencyBucket.day), q, within)
    if pending:
        found.append(not_(col(LatencyBucket.compacted)))
    return _buckets(LatencyBucket, col(LatencyBucket.day), q).where(*found)


def month_rows(q: UsageQuery, within: Periods) -> Any:
    """The compacted latency buckets of the range's whole months: with their days' rows
    not yet compacted (bucket_rows, pending), all of their calls."""
    month = col(LatencyMonth.month)
    return _buckets(LatencyMonth, month, q).where(*_conditions(LatencyMonth, month, q, within))


def _buckets(table: Any, time: Any, q: UsageQuery) -> Any:
    return select(
        *_keys(table, time, q),
        col(table.bucket).label("bucket"),
        col(table.calls).label("calls"),
    )


async def compact(sessions: SessionFactory) -> bool:
    """Merge the delta rows of up to COMPACT_PERIODS periods per table into one row per
    key (resolvers.analytics.compaction), so that reads sum few rows; the latency days
    merged are added to their months first. True when periods were left for another
    call (false too when another process is compacting)."""

    async def merge(session: AsyncSession) -> bool:
        more = False
        for table, period in PERIODS:
            merged = await merge_pending(
                session,
                table,
                col(period),
                SUMMED,
                COMPACT_PERIODS,
                first=CLUSTERED,
                before=_add_to_months if table is LatencyBucket else None,
            )
            more |= merged == COMPACT_PERIODS
        return more

    return await in_one_snapshot(sessions, COMPACTION_LOCK, merge)


# What a latency month row is keyed by, besides its month.
MONTH_KEYS = ("kind", "model", "provider", "scope", "version_id", "bucket")


async def _add_to_months(session: AsyncSession, days: list[Any], newest: int) -> None:
    """The day rows about to be merged that no compaction merged before, added to their
    months' rows: every delta row reaches latency_months once, in the transaction that
    marks it compacted."""
    by_month: dict[datetime, list[datetime]] = defaultdict(list)
    for day in days:
        by_month[_month_floor(day)].append(day)
    keys = [col(getattr(LatencyBucket, name)) for name in MONTH_KEYS]
    calls = func.sum(col(LatencyBucket.calls))
    month_type = inspect(LatencyMonth).c.month.type
    for month, days_of_month in by_month.items():
        added = (
            select(literal(month, month_type), *keys, calls, literal(False))
            .where(
                col(LatencyBucket.day).in_(days_of_month),
                col(LatencyBucket.id) <= newest,
                not_(col(LatencyBucket.compacted)),
            )
            .group_by(*keys)
            .having(calls != 0)
        )
        columns = ["month", *MONTH_KEYS, "calls", "compacted"]
        await session.exec(insert(LatencyMonth).from_select(columns, added))
