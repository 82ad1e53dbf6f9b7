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
    # The OpenTelemetry trace id (hex) of an ingested trace.
    external_id: str | None = None


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
    )

    id: uuid.UUID = uuid_pk()
    trace_id: uuid.UUID = fk("traces.id", index=False)
    parent_span_id: uuid.UUID | None = fk("spans.id", nullable=True)
    plan_step_id: uuid.UUID | None = fk("plan_steps.id", nullable=True, ondelete="SET NULL")
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


# Slowest first, the root list's DURATION order: nulls last, which PostgreSQL's index must
# say and SQLite's cannot (its DESC puts them last anyway): migration 0012 writes each.
sa.Index("ix_spans_duration", col(Span.duration_ms).desc().nulls_last()).ddl_if(
    dialect="postgresql"
)


class SpanComponentVersion(SQLModel, table=True):
    __tablename__ = "span_component_versions"

    span_id: uuid.UUID = Field(foreign_key="spans.id", ondelete="CASCADE", primary_key=True)
    component_version_id: uuid.UUID = Field(
        foreign_key="component_versions.id", ondelete="CASCADE", primary_key=True, index=True
    )
