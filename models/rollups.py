"""Usage roll-ups: what `usage` sums, kept per conversation and hour by database triggers.

Every write of a span, a trace, a span-to-version link or a message appends signed
delta rows here in its own transaction (migration 0013 holds the triggers), so no write
can miss them, and no two writers ever update the same row: appending never waits. A
read sums every row of its key; compaction (resolvers.analytics.rollups) merges a key's
rows into one now and then without changing any sum.

Rows are in one of three scopes, so that grouping by component version needs no join:
- ALL: every span and every model-call message, once;
- VERSION: a span once per component version it used, under that version;
- LINKED: a span that used at least one version, negated: ALL + LINKED is what used none.

The name_* tables hold scope ALL alone too, per UTC day (or month) and what a call was
and who ran it: kind, status, span name, tool and agent (migration 0025).

The user_* tables hold scope ALL alone, per UTC day (or month) and trace user, with no
other dimension: `usage` by user for a caller who sees everything (migration 0020).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import IntEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import BIG_INTEGER


class Scope(IntEnum):
    ALL = 0
    VERSION = 1
    LINKED = 2


def _big() -> int:
    return Field(default=0, sa_type=sa.BigInteger)


def pending_index(table: str, period: str) -> sa.Index:
    """Compaction (resolvers.analytics.compaction) looks for the periods (or other
    batch keys) that have rows still to merge."""
    merged = sa.text("NOT compacted")
    return sa.Index(f"ix_{table}_pending", period, postgresql_where=merged, sqlite_where=merged)


class _Delta(SQLModel):
    """A delta row, and whether compaction merged it."""

    id: int | None = Field(default=None, sa_type=BIG_INTEGER, primary_key=True)
    compacted: bool = False


class _Rows(_Delta):
    """The dimensions every roll-up row over spans' own columns has."""

    kind: str
    model: str | None = None
    provider: str | None = None
    scope: int = Field(default=Scope.ALL, sa_type=sa.SmallInteger)
    version_id: uuid.UUID | None = None


class _Sums(_Delta):
    calls: int = _big()
    input_tokens: int = _big()
    output_tokens: int = _big()
    total_tokens: int = _big()
    # Nano-dollars, like every cost column (models.base.Money).
    cost: int = _big()
    errors: int = _big()


class _Buckets(_Delta):
    """How many calls took a latency within one bucket of the sketch
    (resolvers.analytics.sketch)."""

    bucket: int
    calls: int = _big()


class UsageRollup(_Sums, _Rows, table=True):
    """Counts and sums of calls that share a conversation, UTC hour and dimensions."""

    __tablename__ = "usage_rollups"
    __table_args__ = (
        # A scope's rows of a range of hours (migration 0017).
        sa.Index("ix_usage_rollups_scope_hour", "scope", "hour"),
        sa.Index("ix_usage_rollups_conversation_hour", "conversation_id", "hour"),
        # versionComparison reads a component's versions' rows alone.
        sa.Index("ix_usage_rollups_version", "version_id"),
        pending_index("usage_rollups", "hour"),
    )

    # No foreign key: a deleted conversation's rows are its negative deltas, then nothing.
    conversation_id: uuid.UUID
    hour: datetime
    user_id: str | None = None


class UsageDay(_Sums, _Rows, table=True):
    """The same counts and sums over every conversation and user, per UTC day: what a
    caller who sees everything reads for whole days (a few rows per day, not thousands)."""

    __tablename__ = "usage_days"
    __table_args__ = (
        sa.Index("ix_usage_days_scope_day", "scope", "day"),
        pending_index("usage_days", "day"),
    )

    day: datetime


class LatencyBucket(_Buckets, _Rows, table=True):
    """How many calls of a UTC day and dimensions took a latency within each bucket:
    the mergeable histogram that latency percentiles over many rows are read from."""

    __tablename__ = "latency_buckets"
    __table_args__ = (
        sa.Index("ix_latency_buckets_scope_day", "scope", "day"),
        sa.Index("ix_latency_buckets_version", "version_id"),
        pending_index("latency_buckets", "day"),
    )

    day: datetime


class LatencyMonth(_Buckets, _Rows, table=True):
    """LatencyBucket's counts per UTC month, for the whole months of a range (a month of
    days holds some thirty times the rows). Compaction adds each day row it merges here
    once (resolvers.analytics.usage_rollups), so a month's counts are its rows here plus
    its day rows not yet compacted."""

    __tablename__ = "latency_months"
    __table_args__ = (
        sa.Index("ix_latency_months_scope_month", "scope", "month"),
        pending_index("latency_months", "month"),
    )

    month: datetime


class UserUsageDay(_Sums, table=True):
    """The sums of every call of a UTC day per trace user (null: model-call messages,
    which have no user), over every conversation, in scope ALL alone: what a caller who
    sees everything reads for whole days grouped by or filtered on user (migration 0020;
    usage_rollups holds the users too, but per conversation and hour)."""

    __tablename__ = "user_usage_days"
    __table_args__ = (
        sa.Index("ix_user_usage_days_day", "day"),
        pending_index("user_usage_days", "day"),
    )

    day: datetime
    user_id: str | None = None


class UserLatencyDay(_Buckets, table=True):
    """LatencyBucket's counts per UTC day and trace user, in scope ALL alone."""

    __tablename__ = "user_latency_days"
    __table_args__ = (
        sa.Index("ix_user_latency_days_day", "day"),
        # One user's days, not all fifty's (`usage(userId:)`).
        sa.Index("ix_user_latency_days_user_day", "user_id", "day"),
        pending_index("user_latency_days", "day"),
    )

    day: datetime
    user_id: str | None = None


class UserLatencyMonth(_Buckets, table=True):
    """UserLatencyDay's counts per UTC month, kept as LatencyMonth is from LatencyBucket."""

    __tablename__ = "user_latency_months"
    __table_args__ = (
        sa.Index("ix_user_latency_months_month", "month"),
        pending_index("user_latency_months", "month"),
    )

    month: datetime
    user_id: str | None = None


class _Named(_Delta):
    """What a call was and who ran it: a span's kind, status, name and tool and its trace's
    agent; a model-call message is an LLM call with its status (resolvers.analytics
    .usage_query.MESSAGE_STATUS), no name or tool, and its sender if an agent sent it."""

    kind: str
    status: str
    name: str | None = None
    tool_name: str | None = None
    agent_id: str | None = None


class NameUsageDay(_Sums, _Named, table=True):
    """The sums of every call of a UTC day per kind, status, name, tool and agent, over
    every conversation and user: `usage` by SPAN_NAME, TOOL, AGENT or STATUS for a caller
    who sees everything (migration 0025)."""

    __tablename__ = "name_usage_days"
    __table_args__ = (
        sa.Index("ix_name_usage_days_day", "day"),
        pending_index("name_usage_days", "day"),
    )

    day: datetime


class NameLatencyDay(_Buckets, _Named, table=True):
    """LatencyBucket's counts per UTC day, kind, status, name, tool and agent."""

    __tablename__ = "name_latency_days"
    __table_args__ = (
        sa.Index("ix_name_latency_days_day", "day"),
        pending_index("name_latency_days", "day"),
    )

    day: datetime


class NameLatencyMonth(_Buckets, _Named, table=True):
    """NameLatencyDay's counts per UTC month, kept as LatencyMonth is from LatencyBucket."""

    __tablename__ = "name_latency_months"
    __table_args__ = (
        sa.Index("ix_name_latency_months_month", "month"),
        pending_index("name_latency_months", "month"),
    )

    month: datetime
