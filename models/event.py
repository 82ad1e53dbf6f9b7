"""The event log: every change a live client can see, and agent sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_field, fk, json_field, utcnow, uuid_pk
from models.enums import AgentSessionStatus, EventKind

OPEN_SESSION_STATUSES = (AgentSessionStatus.ACTIVE, AgentSessionStatus.AWAITING_USER)
# The open sessions, as the partial indexes say it: SQLite uses such an index only for a
# query that has this very term, with literals (bound values would not match).
OPEN_ONLY = "status IN ('ACTIVE', 'AWAITING_USER')"
# The same, for the sweeper's index (migration 0026): PostgreSQL prints an OR back as it
# was written, so the index can be re-created from its printed definition (an IN list
# comes back as an array cast that prints differently the second time).
OPEN_EITHER = "(status = 'ACTIVE' OR status = 'AWAITING_USER')"


def where_set(name: str, column: str) -> sa.Index:
    """An index of the rows whose `column` is not NULL: all that `column = X` reads."""
    is_set = sa.text(f"{column} IS NOT NULL")
    return sa.Index(name, column, postgresql_where=is_set, sqlite_where=is_set)


class Event(SQLModel, table=True):
    """One change in a conversation, written in the transaction that made it.

    `seq` numbers a conversation's events without gaps, in commit order (the
    conversation row is locked while it is taken); `id` orders all events. A row of
    ingested spans holds their SPAN_STARTED and SPAN_ENDED events, two numbers per span
    up to its seq (resolvers.event_rows).
    """

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "seq"),
        # Deleting a row an event points at sets the event's column to NULL (ON DELETE SET
        # NULL): without an index each deleted row scans the log. Most events are about a
        # message: that index holds every row. Few are about the others: theirs hold only
        # the rows that have one. Migration 0022.
        sa.Index("ix_events_message_id", "message_id"),
        *(
            where_set(f"ix_events_{column}", column)
            for column in (
                "tool_call_id",
                "trace_id",
                "span_id",
                "plan_id",
                "plan_step_id",
                "participant_id",
                "agent_session_id",
            )
        ),
    )

    # BIGINT on PostgreSQL; INTEGER on SQLite, where only that is an autoincrementing rowid.
    id: int | None = Field(
        default=None, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    conversation_id: uuid.UUID = fk("conversations.id", index=False)
    seq: int
    kind: EventKind = enum_field(EventKind, EventKind.MESSAGE_CREATED)
    created_at: datetime = Field(default_factory=utcnow)
    # What the event is about; the GraphQL event types resolve these into the graph.
    message_id: uuid.UUID | None = fk(
        "messages.id", nullable=True, ondelete="SET NULL", index=False
    )
    tool_call_id: uuid.UUID | None = fk(
        "tool_calls.id", nullable=True, ondelete="SET NULL", index=False
    )
    trace_id: uuid.UUID | None = fk("traces.id", nullable=True, ondelete="SET NULL", index=False)
    span_id: uuid.UUID | None = fk("spans.id", nullable=True, ondelete="SET NULL", index=False)
    plan_id: uuid.UUID | None = fk("plans.id", nullable=True, ondelete="SET NULL", index=False)
    plan_step_id: uuid.UUID | None = fk(
        "plan_steps.id", nullable=True, ondelete="SET NULL", index=False
    )
    participant_id: uuid.UUID | None = fk(
        "participants.id", nullable=True, ondelete="SET NULL", index=False
    )
    agent_session_id: uuid.UUID | None = fk(
        "agent_sessions.id", nullable=True, ondelete="SET NULL", index=False
    )
    # Small facts that are not rows: a chunk of text, a thought, a question, an error.
    data: dict[str, Any] = json_field()


class AgentSession(SQLModel, table=True):
    """An agent working in a conversation; at most one is open (ACTIVE or AWAITING_USER)."""

    __tablename__ = "agent_sessions"
    __table_args__ = (
        # For the foreign key's ON DELETE SET NULL when a message goes (migration 0022).
        where_set("ix_agent_sessions_message_id", "message_id"),
        # The database, not a read before the write, refuses a second open session.
        sa.Index(
            "uq_agent_sessions_open_per_conversation",
            "conversation_id",
            unique=True,
            postgresql_where=sa.text(OPEN_ONLY),
            sqlite_where=sa.text(OPEN_ONLY),
        ),
        # The sweeper's reads: the open sessions of a status silent since before a cutoff
        # (AWAITING_USER ones go STALE, ACTIVE ones FAIL). Only open rows: the index
        # stays as small as the work in flight. Migration 0026.
        sa.Index(
            "ix_agent_sessions_open_last_interaction",
            "status",
            "last_interaction_at",
            postgresql_where=sa.text(OPEN_EITHER),
            sqlite_where=sa.text(OPEN_EITHER),
        ),
        # The root `agentSessions` list, newest first (migration 0026).
        sa.Index("ix_agent_sessions_started", "started_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    conversation_id: uuid.UUID = fk("conversations.id")
    profile_name: str
    status: AgentSessionStatus = enum_field(AgentSessionStatus, AgentSessionStatus.ACTIVE)
    # The message the agent is producing now (streamed chunks, thoughts, tool calls).
    message_id: uuid.UUID | None = fk(
        "messages.id", nullable=True, ondelete="SET NULL", index=False
    )
    question: str | None = Field(default=None, sa_type=sa.Text)
    error: str | None = Field(default=None, sa_type=sa.Text)
    started_at: datetime = Field(default_factory=utcnow)
    last_interaction_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
