"""The plan aggregate: plans, their ordered steps, and dependencies between steps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_field, fk, json_field, optional_json_field, utcnow, uuid_pk
from models.enums import PlanStatus, StepStatus


class Plan(SQLModel, table=True):
    __tablename__ = "plans"
    # A conversation's plans in list order; also serves lookups by conversation alone.
    __table_args__ = (
        sa.Index("ix_plans_conversation_created", "conversation_id", "created_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    conversation_id: uuid.UUID = fk("conversations.id", index=False)
    message_id: uuid.UUID | None = fk("messages.id", nullable=True, ondelete="SET NULL")
    title: str
    description: str | None = Field(default=None, sa_type=sa.Text)
    status: PlanStatus = enum_field(PlanStatus, PlanStatus.DRAFT)
    current_step_index: int | None = None
    context: dict[str, Any] = json_field()
    max_retries: int = 0
    timeout_seconds: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # When it reached a final status (COMPLETED, FAILED or CANCELLED).
    completed_at: datetime | None = None


class PlanStep(SQLModel, table=True):
    __tablename__ = "plan_steps"
    __table_args__ = (sa.UniqueConstraint("plan_id", "position"),)

    id: uuid.UUID = uuid_pk()
    plan_id: uuid.UUID = fk("plans.id", index=False)
    position: int
    description: str = Field(sa_type=sa.Text)
    status: StepStatus = enum_field(StepStatus, StepStatus.PENDING)
    result: Any = optional_json_field()
    error: str | None = Field(default=None, sa_type=sa.Text)
    retries: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None


class StepDependency(SQLModel, table=True):
    """`step_id` cannot start before `depends_on_step_id` is COMPLETED."""

    __tablename__ = "step_dependencies"

    step_id: uuid.UUID = Field(foreign_key="plan_steps.id", ondelete="CASCADE", primary_key=True)
    depends_on_step_id: uuid.UUID = Field(
        foreign_key="plan_steps.id", ondelete="CASCADE", primary_key=True, index=True
    )
