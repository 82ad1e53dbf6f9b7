"""What the writes are asked to do: plain, frozen values, decoded from the API's inputs.

Ids are UUIDs (a client-chosen `id` too), enums are the models' enums, JSON values are
plain Python values (their shape is checked by the write, resolvers/validation.py). A
field of a partial update that was not given is KEEP; None clears it. The agent's
commands are in agent_commands.py; each command's write is named after it.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeAlias

from models.enums import (
    ComponentType,
    ConversationKind,
    MessageRole,
    MessageStatus,
    MessageType,
    ParticipantRole,
    ParticipantType,
    PlanStatus,
    ScoreKind,
    ScoreSource,
    SpanKind,
    SpanStatus,
    StepStatus,
    ToolCallStatus,
    TraceStatus,
)

Json: TypeAlias = Any  # any JSON value, as parsed


class _Keep(enum.Enum):
    KEEP = "KEEP"


KEEP = _Keep.KEEP
"""A field of a partial update that was not given: its value stays."""
Keep: TypeAlias = Literal[_Keep.KEEP]


def given(changes: Any) -> dict[str, Any]:
    """The fields of a partial update that were given (None included), by name."""
    values = {f.name: getattr(changes, f.name) for f in dataclasses.fields(changes)}
    return {name: value for name, value in values.items() if value is not KEEP}


# Conversations


@dataclass(frozen=True, kw_only=True)
class NewParticipant:
    participant_id: str
    participant_type: ParticipantType = ParticipantType.USER
    role: ParticipantRole = ParticipantRole.MEMBER


@dataclass(frozen=True, kw_only=True)
class CreateConversation:
    owner: NewParticipant
    participants: list[NewParticipant] = field(default_factory=list)
    id: uuid.UUID | None = None
    kind: ConversationKind = ConversationKind.USER_AGENT
    title: str | None = None
    summary: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: Json = field(default_factory=dict)
    model_name: str | None = None
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    parent_conversation_id: uuid.UUID | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateConversation:
    title: str | Keep | None = KEEP
    summary: str | Keep | None = KEEP
    tags: list[str] | Keep | None = KEEP
    metadata: Json | Keep = KEEP
    model_name: str | Keep | None = KEEP
    system_prompt: str | Keep | None = KEEP
    temperature: float | Keep | None = KEEP
    max_tokens: int | Keep | None = KEEP


@dataclass(frozen=True, kw_only=True)
class SetMemory:
    summary: str | Keep | None = KEEP
    pinned_facts: list[str] | Keep | None = KEEP


# Messages


@dataclass(frozen=True, kw_only=True)
class NewToolCall:
    call_id: str
    tool_name: str
    id: uuid.UUID | None = None
    arguments: Json = field(default_factory=dict)
    result: Json | None = None
    status: ToolCallStatus = ToolCallStatus.PENDING
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    span_id: uuid.UUID | None = None


@dataclass(frozen=True, kw_only=True)
class NewReference:
    """What a message relies on: exactly one of a message or a span of its conversation,
    or an external document (an id or URL)."""

    message_id: uuid.UUID | None = None
    span_id: uuid.UUID | None = None
    document: str | None = None
    title: str | None = None


@dataclass(frozen=True, kw_only=True)
class MessageContent:
    content: str = ""
    parts: list[Json] = field(default_factory=list)
    thinking: str | None = None
    status: MessageStatus = MessageStatus.COMPLETE
    model: str | None = None
    provider: str | None = None
    temperature: float | None = None
    input_tokens: int = 0
    # Of the input tokens, those read from the provider's prompt cache.
    cached_input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = None
    # USD; None: priced from the model and tokens (resolvers.pricing).
    cost: Decimal | None = None
    latency_ms: int | None = None
    attachments: list[Json] = field(default_factory=list)
    metadata: Json = field(default_factory=dict)
    tool_calls: list[NewToolCall] = field(default_factory=list)
    # None: from the role, status and tool calls (resolvers.message_kinds).
    message_type: MessageType | None = None
    confidence: float | None = None  # 0..1
    references: list[NewReference] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class RoutingDecision:
    """Why a message went where it went, as its sender's router decided."""

    route: str  # agent, model, tool, human...: free text (trimmed by the write)
    agent: str | None = None
    reason: str | None = None
    rule: str | None = None
    intent: str | None = None
    confidence: float | None = None  # 0..1
    metadata: Json = field(default_factory=dict)


@dataclass(frozen=True)
class RunId:
    """The run answering a message: a trace or an agent session."""

    type_name: str  # "Trace" or "AgentSession", as in their global ids
    id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class SendMessage(MessageContent):
    conversation_id: uuid.UUID
    sender_id: str
    sender_type: ParticipantType = ParticipantType.USER
    role: MessageRole = MessageRole.USER
    id: uuid.UUID | None = None
    # KEEP: after the conversation's latest message; None: a new root.
    parent_message_id: uuid.UUID | Keep | None = KEEP
    routing_decision: RoutingDecision | None = None
    run_id: RunId | None = None  # of the message's conversation
    # A message of the conversation whose turn this one joins; None: a USER message
    # opens a turn, any other joins its parent's (resolvers.message_kinds).
    turn_id: uuid.UUID | None = None


@dataclass(frozen=True, kw_only=True)
class EditMessage(MessageContent):
    message_id: uuid.UUID
    id: uuid.UUID | None = None


# Plans


@dataclass(frozen=True, kw_only=True)
class NewStep:
    description: str
    depends_on: list[int] = field(default_factory=list)  # positions of steps of the plan


# How many times each FAILED step of a plan may run again, unless the plan says.
DEFAULT_MAX_RETRIES = 3


@dataclass(frozen=True, kw_only=True)
class CreatePlan:
    conversation_id: uuid.UUID
    title: str
    steps: list[NewStep]
    id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    description: str | None = None
    status: PlanStatus = PlanStatus.DRAFT
    context: Json = field(default_factory=dict)
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout_seconds: int | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateStepStatus:
    step_id: uuid.UUID
    status: StepStatus
    result: Json | None = None
    error: str | None = None


# Traces and spans


@dataclass(frozen=True, kw_only=True)
class StartTrace:
    conversation_id: uuid.UUID
    id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    name: str | None = None
    user_input: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    # The agent participant the run is for; by default the writer's own agent.
    agent_id: str | None = None
    started_at: datetime | None = None
    # The state the run starts from (JSON objects), to replay and compare runs.
    initial_memory_state: Json | None = None
    initial_conversation_state: Json | None = None
    system_config: Json | None = None


@dataclass(frozen=True, kw_only=True)
class EndTrace:
    trace_id: uuid.UUID
    status: TraceStatus = TraceStatus.OK
    final_output: str | None = None
    message_id: uuid.UUID | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class StartSpan:
    trace_id: uuid.UUID
    name: str
    kind: SpanKind = SpanKind.OTHER
    id: uuid.UUID | None = None
    parent_span_id: uuid.UUID | None = None
    plan_step_id: uuid.UUID | None = None
    started_at: datetime | None = None
    inputs: Json = field(default_factory=dict)
    attributes: Json = field(default_factory=dict)
    model: str | None = None
    provider: str | None = None
    component_version_ids: list[uuid.UUID] = field(default_factory=list)
    # The state the step saw (JSON objects).
    memory_snapshot: Json | None = None
    conversation_context: Json | None = None


@dataclass(frozen=True, kw_only=True)
class SpanError:
    """A span's error, structured; stored as a JSON object of the fields given."""

    message: str
    type: str | None = None
    stack: str | None = None
    retryable: bool | None = None


@dataclass(frozen=True, kw_only=True)
class EndSpan:
    span_id: uuid.UUID
    status: SpanStatus = SpanStatus.OK
    error: str | None = None
    # With `error` absent, the span's error reads its message.
    error_details: SpanError | None = None
    ended_at: datetime | None = None
    outputs: Json = field(default_factory=dict)
    attributes: Json = field(default_factory=dict)  # merged into those given at start
    model: str | None = None
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = None
    cost: Decimal | None = None  # as in MessageContent
    # The message this model call produced: it shows the span's usage, counted once.
    message_id: uuid.UUID | None = None


# Components, settings, scores


@dataclass(frozen=True, kw_only=True)
class RegisterComponentVersion:
    """For content registered already, the label, description and tags fill in what its
    version lacks (tags are added); they never replace a value it has."""

    component_key: str
    type: ComponentType
    definition: Json
    name: str | None = None
    private: bool = False
    version_name: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class UpdateComponentVersion:
    """None clears the label or the description; tags cannot be None (send [])."""

    version_name: str | Keep | None = KEEP
    description: str | Keep | None = KEEP
    tags: list[str] | Keep | None = KEEP


@dataclass(frozen=True, kw_only=True)
class ChangeChatSettings:
    """None resets a field to its default."""

    enabled_tools: list[str] | Keep | None = KEEP
    enabled_agents: list[str] | Keep | None = KEEP
    model: str | Keep | None = KEEP
    temperature: float | Keep | None = KEEP
    max_tokens: int | Keep | None = KEEP


@dataclass(frozen=True, kw_only=True)
class AddScore:
    target_type: str  # the type name of the scored row's global id
    target_id: uuid.UUID
    name: str
    kind: ScoreKind
    value: float | None = None
    label: str | None = None
    comment: str | None = None
    source: ScoreSource = ScoreSource.HUMAN
    author: str | None = None
    author_type: ParticipantType = ParticipantType.USER


@dataclass(frozen=True, kw_only=True)
class UpdateScore:
    value: float | Keep | None = KEEP
    label: str | Keep | None = KEEP
    comment: str | Keep | None = KEEP
