"""Scores: annotations on a message, span, trace or conversation."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_field, fk, utcnow, uuid_pk
from models.enums import ParticipantType, ScoreKind, ScoreSource, ScoreTarget


class Score(SQLModel, table=True):
    """One judgement of one target. `conversation_id` is always set (the target's
    conversation), so visibility and a conversation's deletion reach every score."""

    __tablename__ = "scores"
    __table_args__ = (sa.Index("ix_scores_name_created", "name", "created_at"),)

    id: uuid.UUID = uuid_pk()
    conversation_id: uuid.UUID = fk("conversations.id")
    target: ScoreTarget = enum_field(ScoreTarget, ScoreTarget.MESSAGE)
    # Exactly the target's own key is set (none for a conversation score).
    message_id: uuid.UUID | None = fk("messages.id", nullable=True)
    trace_id: uuid.UUID | None = fk("traces.id", nullable=True)
    span_id: uuid.UUID | None = fk("spans.id", nullable=True)
    name: str
    kind: ScoreKind = enum_field(ScoreKind, ScoreKind.NUMERIC)
    value: float | None = None
    label: str | None = None
    comment: str | None = Field(default=None, sa_type=sa.Text)
    source: ScoreSource = enum_field(ScoreSource, ScoreSource.HUMAN)
    author_id: str
    # A user or an agent: the author is one of the scorer's own identities.
    author_type: ParticipantType = enum_field(ParticipantType, ParticipantType.USER)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
