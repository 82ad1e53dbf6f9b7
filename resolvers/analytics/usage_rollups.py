"""`usage` from the roll-ups (models.rollups): sums per conversation and hour, sums and
latency buckets per day and month (over everyone, per user or per name), read for the
whole hours, days and months of a range, and compacted now and then."""

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
    literal,
    not_,
    select,
    type_coerce,
)
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from models import (
    LatencyBucket,
    LatencyMonth,
    NameLatencyDay,
    NameLatencyMonth,
    NameUsageDay,
    UsageDay,
    UsageRollup,
    UserLatencyDay,
    UserLatencyMonth,
    UserUsageDay,
)
from models.rollups import Scope
from resolvers.access import among_visible_conversations
from resolvers.analytics.compaction import BeforeMerge, in_one_snapshot, merge_pending
from resolvers.analytics.sql import utc_period
from resolvers.analytics.usage_query import UsageGroupBy, UsageQuery, versions_of
from resolvers.db import SessionFactory
from resolvers.principal import Principal

By = UsageGroupBy
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
# Groupings the per-day tables over everyone hold (they keep no conversation, user or
# hour), and those the per-user ones hold (no other dimension).
SKETCHED = frozenset({By.MODEL, By.PROVIDER, By.SPAN_KIND, By.DAY, By.COMPONENT_VERSION})
PER_USER_GROUPS = frozenset({By.USER, By.DAY})
# Groupings the per-name tables hold (over everyone, with no model, provider or user).
NAMED_GROUPS = frozenset({By.SPAN_KIND, By.STATUS, By.SPAN_NAME, By.TOOL, By.AGENT, By.DAY})
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
    (UserUsageDay, UserUsageDay.day),
    (UserLatencyDay, UserLatencyDay.day),
    (UserLatencyMonth, UserLatencyMonth.month),
    (NameUsageDay, NameUsageDay.day),
    (NameLatencyDay, NameLatencyDay.day),
    (NameLatencyMonth, NameLatencyMonth.month),
)
# The keys compaction writes rows in order of, in this order (the rest follow in column
# order): a conversation's rows together, and a day's (month's) rows of one scope.
CLUSTERED = ("conversation_id", "day", "month", "scope")
# pg_try_advisory_xact_lock's key: one compaction at a time.
COMPACTION_LOCK = 0x524F4C4C  # "ROLL"


@dataclass(frozen=True)
class Stored:
    """Tables that hold whole days of calls: their sums per day, and their latency
    buckets per day and per month."""

    sums: Any
    buckets: Any
    months: Any


EVERYONE = Stored(UsageDay, LatencyBucket, LatencyMonth)
PER_USER = Stored(UserUsageDay, UserLatencyDay, UserLatencyMonth)
NAMED = Stored(NameUsageDay, NameLatencyDay, NameLatencyMonth)
# Each latency day table, and the month table its compaction adds to.
MONTHS = {stored.buckets: stored.months for stored in (EVERYONE, PER_USER, NAMED)}


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


# The groupings a roll-up table holds in a column of its own, where it has that column.
DIMENSIONS = {
    By.MODEL: "model",
    By.PROVIDER: "provider",
    By.SPAN_KIND: "kind",
    By.CONVERSATION: "conversation_id",
    By.USER: "user_id",
    By.STATUS: "status",
    By.SPAN_NAME: "name",
    By.TOOL: "tool_name",
    By.AGENT: "agent_id",
}


def _keys(table: Any, time: Any, q: UsageQuery) -> list[Any]:
    held = table.__table__.c
    columns: dict[By, Any] = {g: held[name] for g, name in DIMENSIONS.items() if name in held}
    if "scope" in held:
        columns[By.COMPONENT_VERSION] = _version_key(table)
    columns[By.DAY] = utc_period(time, "day")
    columns[By.HOUR] = utc_period(time, "hour")
    return [columns[g].label(f"key_{i}") for i, g in enumerate(q.group_by)]


def _conditions(table: Any, time: Any, q: UsageQuery, within: Periods) -> list[Any]:
    """The query's filters on a roll-up table (one it asks for that the table does not
    hold fails loudly: the readers choose the tables that hold them)."""
    held = table.__table__.c
    found = _scopes(table, q) if "scope" in held else []
    for values, name in ((q.kinds, "kind"), (q.models, "model"), (q.providers, "provider")):
        if values:
            found.append(held[name].in_([str(v) for v in values]))
    if q.user_id is not None:
        found.append(held["user_id"] == q.user_id)
    if within.start is not None:
        found.append(time >= within.start)
    if within.end is not None:
        found.append(time < within.end)
    return found


def _scopes(table: Any, q: UsageQuery) -> list[Any]:
    if q.grouped_by_version:
        # Grouped by version: a span under each of its versions, and under none (ALL
        # plus LINKED) if it used none; with `component_ids`, only under those versions.
        if q.component_ids is None:
            return [col(table.scope).in_(list(Scope))]
        return [
            col(table.scope) == Scope.VERSION,
            col(table.version_id).in_(versions_of(q.component_ids)),
        ]
    return [col(table.scope) == Scope.ALL]


def rollup_rows(principal: Principal, q: UsageQuery, within: Periods) -> Any:
    """The roll-up rows of the range's whole hours, shaped as `usage` rows with `calls`."""
    hour = col(UsageRollup.hour)
    found = _conditions(UsageRollup, hour, q, within)
    found += among_visible_conversations(col(UsageRollup.conversation_id), principal)
    if q.conversation_ids is not None:
        found.append(col(UsageRollup.conversation_id).in_(q.conversation_ids))
    return _summed(UsageRollup, hour, q).where(*found)


def day_rows(stored: Stored, q: UsageQuery, within: Periods) -> Any:
    """The per-day sums of the range's whole days (see `stored_days`)."""
    day = stored.sums.__table__.c.day
    return _summed(stored.sums, day, q).where(*_conditions(stored.sums, day, q, within))


def _summed(table: Any, time: Any, q: UsageQuery) -> Any:
    # Nano-dollars as ints, as in every part of the union (whose columns go by position).
    sums = [type_coerce(col(getattr(table, name)), BigInteger).label(name) for name in SUMMED]
    return select(*_keys(table, time, q), *sums)


def stored_days(principal: Principal, q: UsageQuery) -> Stored | None:
    """The per-day tables (sums and latency buckets) that can answer the query's whole
    days, if any: they hold everyone's calls (so a caller who sees everything), by no
    conversation or hour; those over everyone by no user, the per-user ones by nothing
    else, the per-name ones (for queries grouped by a name) by no model, provider or
    user."""
    if not principal.unrestricted or q.conversation_ids is not None:
        return None
    grouped = set(q.group_by)
    if q.user_id is None and grouped <= SKETCHED:
        return EVERYONE
    if grouped <= PER_USER_GROUPS and not (q.kinds or q.models or q.providers):
        return PER_USER
    unnamed = q.user_id is not None or q.models or q.providers
    if q.grouped_by_name and grouped <= NAMED_GROUPS and not unnamed:
        return NAMED
    return None


def whole_months(days: Periods) -> Periods:
    """The UTC months that lie entirely within a range of whole days."""
    start = days.start and _month_floor(days.start)
    if start is not None and days.start is not None and start < days.start:
        start = _month_floor(start + timedelta(days=32))
    return Periods(start, days.end and _month_floor(days.end))


def _month_floor(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def bucket_rows(stored: Stored, q: UsageQuery, within: Periods, *, pending: bool = False) -> Any:
    """The latency buckets of the range's whole days (only those not yet compacted, if
    `pending`), as (keys..., bucket, calls)."""
    days = stored.buckets
    found = _conditions(days, days.__table__.c.day, q, within)
    if pending:
        found.append(not_(days.__table__.c.compacted))
    return _buckets(days, days.__table__.c.day, q).where(*found)


def month_rows(stored: Stored, q: UsageQuery, within: Periods) -> Any:
    """The compacted latency buckets of the range's whole months: with their days' rows
    not yet compacted (bucket_rows, pending), all of their calls."""
    months = stored.months
    month = months.__table__.c.month
    return _buckets(months, month, q).where(*_conditions(months, month, q, within))


def _buckets(table: Any, time: Any, q: UsageQuery) -> Any:
    held = table.__table__.c
    return select(*_keys(table, time, q), held.bucket.label("bucket"), held.calls.label("calls"))


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
                before=_add_to_months(table, MONTHS[table]) if table in MONTHS else None,
            )
            more |= merged == COMPACT_PERIODS
        return more

    return await in_one_snapshot(sessions, COMPACTION_LOCK, merge)


# A latency month row's columns that are not part of its key.
MONTH_OWN = frozenset({"id", "month", "calls", "compacted"})


def _add_to_months(days_table: Any, months_table: Any) -> BeforeMerge:
    """What compaction does before it merges days of `days_table`: the day rows about
    to be merged that no compaction merged before, added to their months' rows in
    `months_table`, so that every delta row reaches the months once, in the transaction
    that marks it compacted."""
    days_columns = days_table.__table__.c
    # A month row's key besides its month: the day row's, besides its day.
    names = [c.name for c in months_table.__table__.c if c.name not in MONTH_OWN]
    keys = [days_columns[name] for name in names]
    calls = func.sum(days_columns.calls)
    month_type = months_table.__table__.c.month.type

    async def add(session: AsyncSession, days: list[Any], newest: int) -> None:
        by_month: dict[datetime, list[datetime]] = defaultdict(list)
        for day in days:
            by_month[_month_floor(day)].append(day)
        for month, days_of_month in by_month.items():
            added = (
                select(literal(month, month_type), *keys, calls, literal(False))
                .where(
                    days_columns.day.in_(days_of_month),
                    days_columns.id <= newest,
                    not_(days_columns.compacted),
                )
                .group_by(*keys)
                .having(calls != 0)
            )
            columns = ["month", *names, "calls", "compacted"]
            await session.exec(insert(months_table).from_select(columns, added))

    return add
