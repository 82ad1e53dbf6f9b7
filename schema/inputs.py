"""Input types: what clients send. Validation of values lives in resolvers/validation.py."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.enums import (
    ComponentType,
    ConversationKind,
    ConversationStatus,
    MessageRole,
    MessageStatus,
    ParticipantRole,
    ParticipantType,
    PlanStatus,
    SpanKind,
    SpanStatus,
    StepStatus,
    ToolCallStatus,
    TraceStatus,
)
from schema.enums import ConversationOrderField, OrderDirection
from schema.scalars import JSONValue

CLIENT_ID = "Optional id chosen by the client (a UUID): retrying the same write is safe."


@strawberry.input
class ParticipantInput:
    participant_id: str
    participant_type: ParticipantType = ParticipantType.USER
    role: ParticipantRole = ParticipantRole.MEMBER


@strawberry.input
class CreateConversationInput:
    owner: ParticipantInput = strawberry.field(description="Becomes the OWNER participant.")
    participants: list[ParticipantInput] = strawberry.field(
        default_factory=list, description="Counterparts; a third participant makes it MULTI_PARTY."
    )
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    kind: ConversationKind = ConversationKind.USER_AGENT
    title: str | None = None
    summary: str | None = None
    tags: list[str] = strawberry.field(default_factory=list)
    metadata: JSONValue = strawberry.field(default_factory=dict)
    model_name: str | None = None
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


@strawberry.input(description="Fields left out are not changed; null clears a nullable field.")
class UpdateConversationInput:
    title: str | None = strawberry.UNSET
    summary: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    metadata: JSONValue | None = strawberry.UNSET
    model_name: str | None = strawberry.UNSET
    system_prompt: str | None = strawberry.UNSET
    temperature: float | None = strawberry.UNSET
    max_tokens: int | None = strawberry.UNSET


@strawberry.input
class ConversationFilter:
    kinds: list[ConversationKind] | None = None
    statuses: list[ConversationStatus] | None = None
    owner_id: str | None = None
    participant_id: str | None = strawberry.field(
        default=None, description="Conversations this participant is (or was) part of."
    )
    tag: str | None = None
    title_contains: str | None = strawberry.field(default=None, description="Case-insensitive.")
    created_after: datetime | None = None
    created_before: datetime | None = None
    active_after: datetime | None = None
    active_before: datetime | None = None


@strawberry.input
class ConversationOrder:
    field: ConversationOrderField = ConversationOrderField.LAST_ACTIVITY_AT
    direction: OrderDirection = OrderDirection.DESC


@strawberry.input
class ToolCallInput:
    call_id: str = strawberry.field(description="The model's id for the call (unique per message).")
    tool_name: str
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    arguments: JSONValue = strawberry.field(default_factory=dict)
    result: JSONValue | None = None
    status: ToolCallStatus = ToolCallStatus.PENDING
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    span_id: strawberry.ID | None = None


@strawberry.input
class MessageContentInput:
    content: str = ""
    parts: list[JSONValue] = strawberry.field(
        default_factory=list,
        description="Typed parts: {type: text|reasoning|tool_call|tool_result|file|uri, ...}.",
    )
    thinking: str | None = None
    status: MessageStatus = MessageStatus.COMPLETE
    model: str | None = None
    provider: str | None = None
    temperature: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = strawberry.field(
        default=None, description="Defaults to inputTokens + outputTokens."
    )
    cost: float = 0.0
    latency_ms: int | None = None
    attachments: list[JSONValue] = strawberry.field(default_factory=list)
    metadata: JSONValue = strawberry.field(default_factory=dict)
    tool_calls: list[ToolCallInput] = strawberry.field(default_factory=list)


@strawberry.input
class SendMessageInput(MessageContentInput):
    conversation_id: strawberry.ID
    sender_id: str
    sender_type: ParticipantType = ParticipantType.USER
    role: MessageRole = MessageRole.USER
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    parent_message_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Defaults to the conversation's latest message; null starts a new root.",
    )


@strawberry.input(description="The new content; the edit becomes a sibling of the original.")
class EditMessageInput(MessageContentInput):
    message_id: strawberry.ID
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)


@strawberry.input
class PlanStepInput:
    description: str
    depends_on: list[int] = strawberry.field(
        default_factory=list, description="Positions (0-based) of steps of this plan."
    )


@strawberry.input
class CreatePlanInput:
    conversation_id: strawberry.ID
    title: str
    steps: list[PlanStepInput]
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    message_id: strawberry.ID | None = None
    description: str | None = None
    status: PlanStatus = PlanStatus.DRAFT
    context: JSONValue = strawberry.field(default_factory=dict)
    max_retries: int = 0
    timeout_seconds: int | None = None


@strawberry.input
class UpdateStepStatusInput:
    step_id: strawberry.ID
    status: StepStatus
    result: JSONValue | None = None
    error: str | None = None


@strawberry.input
class StartTraceInput:
    conversation_id: strawberry.ID
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    message_id: strawberry.ID | None = None
    name: str | None = None
    user_input: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    started_at: datetime | None = None


@strawberry.input
class EndTraceInput:
    trace_id: strawberry.ID
    status: TraceStatus = TraceStatus.OK
    final_output: str | None = None
    message_id: strawberry.ID | None = None
    ended_at: datetime | None = None


@strawberry.input
class StartSpanInput:
    trace_id: strawberry.ID
    name: str
    kind: SpanKind = SpanKind.OTHER
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    parent_span_id: strawberry.ID | None = None
    plan_step_id: strawberry.ID | None = None
    started_at: datetime | None = None
    inputs: JSONValue = strawberry.field(default_factory=dict)
    attributes: JSONValue = strawberry.field(default_factory=dict)
    model: str | None = None
    provider: str | None = None
    component_version_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.input
class EndSpanInput:
    span_id: strawberry.ID
    status: SpanStatus = SpanStatus.OK
    error: str | None = None
    ended_at: datetime | None = None
    outputs: JSONValue = strawberry.field(default_factory=dict)
    attributes: JSONValue = strawberry.field(
        default_factory=dict, description="Merged into the attributes given at start."
    )
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = None
    cost: float = 0.0


@strawberry.input
class TraceFilter:
    conversation_id: strawberry.ID | None = None
    statuses: list[TraceStatus] | None = None
    user_id: str | None = None
    session_id: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None


@strawberry.input
class RegisterComponentVersionInput:
    component_key: str = strawberry.field(description="Stable id of the component.")
    type: ComponentType
    definition: JSONValue
    name: str | None = strawberry.field(default=None, description="Defaults to the key.")
    private: bool = strawberry.field(
        default=False,
        description="On first registration: seen by you alone (else every user reads it).",
    )


@strawberry.input
class ComponentFilter:
    types: list[ComponentType] | None = None
    key_contains: str | None = None


@strawberry.input(
    description="Fields left out keep their current value; null resets a field to its default."
)
class ChatSettingsInput:
    enabled_tools: list[str] | None = strawberry.UNSET
    enabled_agents: list[str] | None = strawberry.UNSET
    model: str | None = strawberry.UNSET
    temperature: float | None = strawberry.UNSET
    max_tokens: int | None = strawberry.UNSET
