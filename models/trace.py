"""The trace aggregate: traces, their span trees, and span-to-component-version links."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col

from models.base import (
    cost_source_field,
    enum_field,
    fk,
    json_field,
    money_field,
    optional_json_field,
    total_field,
    utcnow,
    uuid_pk,
)
from models.enums import CostSource, SpanKind, SpanStatus, TraceStatus


class Trace(SQLModel, table=True):
    __tablename__ = "traces"
    __table_args__ = (
        sa.Index("ix_traces_started", "started_at", "id"),
        # A conversation's traces in list order; also serves lookups by conversation alone.
        sa.Index("ix_traces_conversation_started", "conversation_id", "started_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    conversation_id: uuid.UUID = fk("conversations.id", index=False)
    message_id: uuid.UUID | None = fk("messages.id", nullable=True, ondelete="SET NULL")
    name: str | None = None
    user_input: str | None = Field(default=None, sa_type=sa.Text)
    final_output: str | None = Field(default=None, sa_type=sa.Text)
    status: TraceStatus = enum_field(TraceStatus, TraceStatus.RUNNING, index=True)
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    duration_ms: float | None = None
    total_tokens: int = total_field()
    cost: Decimal = money_field()
    user_id: str | None = Field(default=None, index=True)
    session_id: str | None = Field(default=None, index=True)
    # The agent participant the run was for (`usage` groups by it as AGENT); migration 0025.
    agent_id: str | None = None
    # The OpenTelemetry trace id (hex) of an ingested trace.
    external_id: str | None = None
    # The state a run started from, for replaying and comparing runs (migration 0030).
    initial_memory_state: dict[str, Any] | None = optional_json_field(sparse=True)
    initial_conversation_state: dict[str, Any] | None = optional_json_field(sparse=True)
    system_config: dict[str, Any] | None = optional_json_field(sparse=True)


class Span(SQLModel, table=True):
    __tablename__ = "spans"
    __table_args__ = (
        sa.Index("ix_spans_trace_started", "trace_id", "started_at", "id"),
        # An ingested span is its OpenTelemetry span id within its trace: sent twice, kept once.
        sa.UniqueConstraint("trace_id", "external_id"),
        # Time windows, and the root list by start (ties on id: an incremental sort).
        sa.Index("ix_spans_started", "started_at"),
        # The root list's filters and their counts, read from the index alone; status first:
        # ERROR (with or without a model) is the selective filter. Few distinct keys, so
        # PostgreSQL keeps each once with its rows (deduplication): a few bytes a span.
        sa.Index("ix_spans_status_model_kind", "status", "model", "kind"),
        # Few spans run a plan step: the index holds those only, all that a step's spans and
        # the foreign key's ON DELETE SET NULL read (`plan_step_id = X`). Migration 0016.
        sa.Index(
            "ix_spans_plan_step_id",
            "plan_step_id",
            postgresql_where=sa.text("plan_step_id IS NOT NULL"),
            sqlite_where=sa.text("plan_step_id IS NOT NULL"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    trace_id: uuid.UUID = fk("traces.id", index=False)
    parent_span_id: uuid.UUID | None = fk("spans.id", nullable=True)
    plan_step_id: uuid.UUID | None = fk(
        "plan_steps.id", nullable=True, ondelete="SET NULL", index=False
    )
    kind: SpanKind = enum_field(SpanKind, SpanKind.OTHER)
    name: str
    status: SpanStatus = enum_field(SpanStatus, SpanStatus.UNSET)
    error: str | None = Field(default=None, sa_type=sa.Text)
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    duration_ms: float | None = None
    inputs: dict[str, Any] = json_field()
    outputs: dict[str, Any] = json_field()
    attributes: dict[str, Any] = json_field()
    model: str | None = None
    provider: str | None = None
    # A TOOL span's tool (as its tool call names it), null for other kinds: `usage` groups
    # by it as TOOL, and span names need not be tool names ("execute_tool x"). Migration 0025.
    tool_name: str | None = None
    input_tokens: int = 0
    # Of the input tokens, those read from the provider's prompt cache (priced lower).
    cached_input_tokens: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    output_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = money_field()
    cost_source: CostSource = cost_source_field()
    # The price entry a PRICED cost used (resolvers.pricing).
    price_id: str | None = None
    # OpenTelemetry span ids (hex) of an ingested span and of its parent: a span that
    # arrives before its parent keeps parent_span_id null until the parent arrives.
    external_id: str | None = None
    external_parent_id: str | None = None
    # The state a step saw, and its error as structured JSON (type, message, stack,
    # retryable; `error` keeps the message). Null on most spans: sparse (migration 0030).
    memory_snapshot: dict[str, Any] | None = optional_json_field(sparse=True)
    conversation_context: dict[str, Any] | None = optional_json_field(sparse=True)
    error_details: dict[str, Any] | None = optional_json_field(sparse=True)


def value_indexed(column: Any) -> Any:
    """The spans that the root list's index by `column` (tokens, cost) holds: those with a
    model, and the rare others whose value is not zero. The rest, most spans, all hold zero
    and are read in id order from the primary key. A literal 0, so that a query saying
    this condition is known to match the index on both databases."""
    return sa.or_(col(Span.model).is_not(None), column != sa.literal_column("0"))


def _by_model(name: str, column: Any) -> sa.Index:
    predicate = value_indexed(col(column))
    return sa.Index(
        name,
        col(Span.model),
        col(column),
        col(Span.id),
        postgresql_where=predicate,
        sqlite_where=predicate,
    )


# The root list's value orders (resolvers/analytics/spans.py) in the exact order of its
# keyset, each led by the column its values follow: agents and chains run longest; only
# model calls have tokens and costs, and a cheap model's calls cost less than an expensive
# one's. A page reads each group of that column as one range. Migration 0018, which also
# gives PostgreSQL statistics on which (status, model, kind) combinations exist.
sa.Index("ix_spans_kind_duration", col(Span.kind), col(Span.duration_ms), col(Span.id))
_by_model("ix_spans_model_tokens", Span.total_tokens)
_by_model("ix_spans_model_cost", Span.cost)


class SpanComponentVersion(SQLModel, table=True):
    __tablename__ = "span_component_versions"

    span_id: uuid.UUID = Field(foreign_key="spans.id", ondelete="CASCADE", primary_key=True)
    component_version_id: uuid.UUID = Field(
        foreign_key="component_versions.id", ondelete="CASCADE", primary_key=True, index=True
    )
