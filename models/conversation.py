"""The conversation aggregate: conversations, participants, messages, tool calls."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import (
    JSON_TYPE,
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
from models.enums import (
    ConversationKind,
    ConversationStatus,
    CostSource,
    MessageRole,
    MessageStatus,
    MessageType,
    ParticipantRole,
    ParticipantType,
    ReferenceKind,
    ToolCallStatus,
)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.Index("ix_conversations_last_activity", "last_activity_at", "id"),
        sa.Index("ix_conversations_created", "created_at", "id"),
        sa.Index("ix_conversations_updated", "updated_at", "id"),
        # The orders by usage (migration 0023).
        sa.Index("ix_conversations_cost", "cost", "id"),
        sa.Index("ix_conversations_total_tokens", "total_tokens", "id"),
        sa.Index("ix_conversations_message_count", "message_count", "id"),
        # The `tag` filter's jsonb @> on PostgreSQL; a plain index on SQLite, which
        # has no use for it but keeps the two schemas one.
        sa.Index("ix_conversations_tags", "tags", postgresql_using="gin"),
    )

    id: uuid.UUID = uuid_pk()
    kind: ConversationKind = enum_field(ConversationKind, ConversationKind.USER_AGENT)
    status: ConversationStatus = enum_field(
        ConversationStatus, ConversationStatus.ACTIVE, index=True
    )
    title: str | None = None
    summary: str | None = Field(default=None, sa_type=sa.Text)
    # Facts an agent must always see, sent before the history (see contextWindow).
    pinned_facts: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(JSON_TYPE, nullable=False, server_default=sa.text("'[]'")),
    )
    tags: list[str] = json_field(default=list)
    meta: dict[str, Any] = json_field("metadata")
    # The owner is a user or an agent, as its OWNER participant row says.
    owner_id: str = Field(index=True)
    owner_type: ParticipantType = enum_field(ParticipantType, ParticipantType.USER)
    model_name: str | None = None
    system_prompt: str | None = Field(default=None, sa_type=sa.Text)
    temperature: float | None = None
    max_tokens: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_activity_at: datetime = Field(default_factory=utcnow)
    # When it was last archived (null unless ARCHIVED): retention counts from here.
    archived_at: datetime | None = None
    # A fork's provenance. Not foreign keys: the source may be deleted, the story stays.
    forked_from_conversation_id: uuid.UUID | None = None
    forked_from_message_id: uuid.UUID | None = None
    # The conversation this one serves (an agent-agent conversation under a user's), if
    # any. Not a foreign key, for the same reason: the parent may go, the child stays.
    parent_conversation_id: uuid.UUID | None = Field(default=None, index=True)
    # Roll-ups, updated by the same statement that assigns a message's sequence
    # number, so concurrent writers cannot lose an increment.
    last_message_seq: int = 0
    # Sequence number of the conversation's latest event (see models.event.Event).
    last_event_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    message_count: int = 0
    input_tokens: int = total_field()
    output_tokens: int = total_field()
    total_tokens: int = total_field()
    cost: Decimal = money_field()


class Participant(SQLModel, table=True):
    __tablename__ = "participants"
    __table_args__ = (sa.UniqueConstraint("conversation_id", "participant_id"),)

    id: uuid.UUID = uuid_pk()
    conversation_id: uuid.UUID = fk("conversations.id")
    participant_id: str = Field(index=True)
    participant_type: ParticipantType = enum_field(ParticipantType, ParticipantType.USER)
    role: ParticipantRole = enum_field(ParticipantRole, ParticipantRole.MEMBER)
    active: bool = True
    joined_at: datetime = Field(default_factory=utcnow)
    left_at: datetime | None = None


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "seq"),
        # Ingestion stores a message re-sent with every LLM call's history once.
        sa.UniqueConstraint("conversation_id", "ingest_key"),
        # `usage` reads the model-call messages of a time range (migration 0017).
        sa.Index("ix_messages_created", "created_at"),
        # `routeStats` counts the routed messages of a time range by route: only they are
        # indexed, few beside the rest (migration 0028).
        sa.Index(
            "ix_messages_routed",
            "created_at",
            "route",
            postgresql_where=sa.text("route IS NOT NULL"),
            sqlite_where=sa.text("route IS NOT NULL"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    conversation_id: uuid.UUID = fk("conversations.id", index=False)
    seq: int
    parent_message_id: uuid.UUID | None = fk("messages.id", nullable=True)
    sender_id: str
    sender_type: ParticipantType = enum_field(ParticipantType, ParticipantType.USER)
    role: MessageRole = enum_field(MessageRole, MessageRole.USER)
    content: str = Field(default="", sa_type=sa.Text)
    parts: list[dict[str, Any]] = json_field(default=list)
    thinking: str | None = Field(default=None, sa_type=sa.Text)
    status: MessageStatus = enum_field(MessageStatus, MessageStatus.COMPLETE)
    model: str | None = None
    provider: str | None = None
    temperature: float | None = None
    input_tokens: int = 0
    # Of the input tokens, those read from the provider's prompt cache (priced lower).
    cached_input_tokens: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    output_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = money_field()
    cost_source: CostSource = cost_source_field()
    # The price entry a PRICED cost used (resolvers.pricing).
    price_id: str | None = None
    latency_ms: int | None = None
    attachments: list[dict[str, Any]] = json_field(default=list)
    meta: dict[str, Any] = json_field("metadata")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # What ingestion recognises the message by (resolvers.ingest.messages); else None.
    ingest_key: str | None = None
    # The span (a model call) that produced this message: the call's usage is the span's,
    # shown on the message but counted once, by the span. Not a foreign key: spans ->
    # traces -> messages would close a cycle; spans go only with their conversation.
    span_id: uuid.UUID | None = Field(default=None, index=True)
    # Why the message went where it went (an agent, a plain model...), as its sender's
    # router decided (resolvers.writes.routing); None when it sent no decision.
    routing_decision: dict[str, Any] | None = optional_json_field(sparse=True)
    # The decision's route, copied at write: reads count by it without reading the JSON.
    route: str | None = None
    # The run answering the message: a trace or an agent session of its conversation, at
    # most one. Not foreign keys, as span_id: they would close the same cycle. A run
    # deleted leaves its id behind; `Message.run` then reads null.
    run_trace_id: uuid.UUID | None = None
    run_session_id: uuid.UUID | None = None
    # The message that opened this message's turn (a user prompt, with everything that
    # answers it): a soft reference within the conversation, as span_id. None on rows
    # written before migration 0031 had none to give: the message then opens its own.
    turn_message_id: uuid.UUID | None = None
    message_type: MessageType = enum_field(MessageType, MessageType.TEXT)
    confidence: float | None = None  # 0..1, as its sender rated it


class MessageReference(SQLModel, table=True):
    """What a message relies on: a message or a span of its conversation, or an external
    document. Targets are soft references (no foreign keys, as Message.span_id): a target
    deleted leaves its id, and the read gives no node for it."""

    __tablename__ = "message_references"

    message_id: uuid.UUID = Field(foreign_key="messages.id", ondelete="CASCADE", primary_key=True)
    position: int = Field(primary_key=True)
    kind: ReferenceKind = enum_field(ReferenceKind, ReferenceKind.DOCUMENT)
    target_message_id: uuid.UUID | None = None
    target_span_id: uuid.UUID | None = None
    # An external document's id or URL (kind DOCUMENT).
    document: str | None = Field(default=None, sa_type=sa.Text)
    title: str | None = None


class ToolCall(SQLModel, table=True):
    __tablename__ = "tool_calls"
    __table_args__ = (
        sa.UniqueConstraint("message_id", "call_id"),
        # The root `toolCalls` list reads a status's calls, or a tool's of a status, by
        # start (resolvers/tool_call_list.py, migration 0024).
        sa.Index("ix_tool_calls_status_started", "status", "started_at", "id"),
        sa.Index("ix_tool_calls_tool_status_started", "tool_name", "status", "started_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    message_id: uuid.UUID = fk("messages.id")
    position: int = 0
    call_id: str
    tool_name: str = Field(index=True)
    arguments: dict[str, Any] = json_field()
    result: Any = optional_json_field()
    status: ToolCallStatus = enum_field(ToolCallStatus, ToolCallStatus.PENDING)
    error: str | None = Field(default=None, sa_type=sa.Text)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    span_id: uuid.UUID | None = fk("spans.id", nullable=True, ondelete="SET NULL")
