"""Input types: what clients send. Validation of values lives in resolvers/validation.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import strawberry

from models.enums import (
    ComponentType,
    ConversationKind,
    ConversationStatus,
    MessageRole,
    MessageStatus,
    MessageType,
    ParticipantRole,
    ParticipantType,
    PlanStatus,
    StepStatus,
    ToolCallStatus,
    TraceStatus,
)
from resolvers.writes import commands as cmd
from schema.commands import optional_id, to_command
from schema.enums import ConversationOrderField, OrderDirection
from schema.pricing import CACHED_INPUT_TOKENS, STATED_COST, usd
from schema.routing_inputs import RUN_ID, RoutingDecisionInput, run_id
from schema.scalars import EMPTY_OBJECT, JSONValue, json_object

C = TypeVar("C", cmd.SendMessage, cmd.EditMessage)
CLIENT_ID = "Optional id chosen by the client (a UUID): retrying the same write is safe."


@strawberry.input
class ParticipantInput:
    participant_id: str
    participant_type: ParticipantType = ParticipantType.USER
    role: ParticipantRole = ParticipantRole.MEMBER

    def to_command(self) -> cmd.NewParticipant:
        return to_command(self, cmd.NewParticipant)


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
    metadata: JSONValue | None = strawberry.field(default=None, description=EMPTY_OBJECT)
    model_name: str | None = None
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    parent_conversation_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The conversation this one serves (an agent-agent conversation under a "
        "user's), which you must be able to see; set when created, never changed.",
    )

    def to_command(self) -> cmd.CreateConversation:
        return to_command(
            self,
            cmd.CreateConversation,
            {"id": "Conversation", "parent_conversation_id": "Conversation"},
            owner=self.owner.to_command(),
            participants=[p.to_command() for p in self.participants],
            metadata=json_object(self.metadata),
        )


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

    def to_command(self) -> cmd.UpdateConversation:
        return to_command(self, cmd.UpdateConversation)


@strawberry.input
class ConversationFilter:
    kinds: list[ConversationKind] | None = None
    statuses: list[ConversationStatus] | None = strawberry.field(
        default=None,
        description="Left out (or empty): ACTIVE ones only. ARCHIVED and CLOSED "
        "conversations are listed when named here.",
    )
    owner_id: str | None = None
    participant_id: str | None = strawberry.field(
        default=None,
        description="Conversations this participant is (or was) part of, a user or an agent "
        "of that id unless `participantType` says which.",
    )
    participant_type: ParticipantType | None = strawberry.field(
        default=None,
        description="With `participantId`: the participant is of this type (an agent "
        '"alice" is not the user "alice").',
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


@strawberry.input(
    description="By seq (the position in the conversation): ASC oldest first, DESC newest first."
)
class MessageOrder:
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class ToolCallInput:
    call_id: str = strawberry.field(description="The model's id for the call (unique per message).")
    tool_name: str
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    arguments: JSONValue | None = strawberry.field(default=None, description=EMPTY_OBJECT)
    result: JSONValue | None = None
    status: ToolCallStatus = ToolCallStatus.PENDING
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    span_id: strawberry.ID | None = None

    def to_command(self) -> cmd.NewToolCall:
        return to_command(
            self,
            cmd.NewToolCall,
            {"id": "ToolCall", "span_id": "Span"},
            arguments=json_object(self.arguments),
        )


@strawberry.input(
    description="Exactly one of `messageId` and `spanId` (of the message's conversation) and "
    "`document` (an id or URL, at most 2048 characters); `title` at most 255 characters."
)
class MessageReferenceInput:
    message_id: strawberry.ID | None = None
    span_id: strawberry.ID | None = None
    document: str | None = None
    title: str | None = None

    def to_command(self) -> cmd.NewReference:
        return to_command(self, cmd.NewReference, {"message_id": "Message", "span_id": "Span"})


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
    cached_input_tokens: int = strawberry.field(default=0, description=CACHED_INPUT_TOKENS)
    output_tokens: int = 0
    total_tokens: int | None = strawberry.field(
        default=None, description="Defaults to inputTokens + outputTokens."
    )
    cost: float | None = strawberry.field(default=None, description=STATED_COST)
    latency_ms: int | None = None
    attachments: list[JSONValue] = strawberry.field(default_factory=list)
    metadata: JSONValue | None = strawberry.field(default=None, description=EMPTY_OBJECT)
    tool_calls: list[ToolCallInput] = strawberry.field(default_factory=list)
    message_type: MessageType | None = strawberry.field(
        default=None, description="Null: from the role, status and tool calls (see Message)."
    )
    confidence: float | None = strawberry.field(
        default=None, description="How sure the sender is, from 0 to 1."
    )
    references: list[MessageReferenceInput] = strawberry.field(
        default_factory=list, description="What the message relies on, in order; at most 50."
    )

    def _content(self, target: type[C], ids: dict[str, str], **values: Any) -> C:
        calls = [call.to_command() for call in self.tool_calls]
        references = [reference.to_command() for reference in self.references]
        return to_command(
            self,
            target,
            ids,
            tool_calls=calls,
            references=references,
            cost=usd(self.cost),
            metadata=json_object(self.metadata),
            **values,
        )


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
    routing_decision: RoutingDecisionInput | None = None
    run_id: strawberry.ID | None = strawberry.field(default=None, description=RUN_ID)
    turn_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A message of this conversation whose turn this one joins (Message.turnId); "
        "null: a USER message opens a turn, any other joins its parent's.",
    )

    def to_command(self) -> cmd.SendMessage:
        ids = {
            "conversation_id": "Conversation",
            "id": "Message",
            "parent_message_id": "Message",
            "turn_id": "Message",
        }
        decision = self.routing_decision
        return self._content(
            cmd.SendMessage,
            ids,
            routing_decision=None if decision is None else decision.to_command(),
            run_id=run_id(self.run_id),
        )


@strawberry.input(description="The new content; the edit becomes a sibling of the original.")
class EditMessageInput(MessageContentInput):
    message_id: strawberry.ID
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)

    def to_command(self) -> cmd.EditMessage:
        return self._content(cmd.EditMessage, {"message_id": "Message", "id": "Message"})


@strawberry.input
class PlanStepInput:
    description: str
    depends_on: list[int] = strawberry.field(
        default_factory=list, description="Positions (0-based) of steps of this plan."
    )

    def to_command(self) -> cmd.NewStep:
        return to_command(self, cmd.NewStep)


@strawberry.input
class CreatePlanInput:
    conversation_id: strawberry.ID
    title: str
    steps: list[PlanStepInput]
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    message_id: strawberry.ID | None = None
    description: str | None = None
    status: PlanStatus = PlanStatus.DRAFT
    context: JSONValue | None = strawberry.field(default=None, description=EMPTY_OBJECT)
    max_retries: int = strawberry.field(
        default=cmd.DEFAULT_MAX_RETRIES,
        description="How many times each FAILED step may run again (0: never).",
    )
    timeout_seconds: int | None = None

    def to_command(self) -> cmd.CreatePlan:
        return to_command(
            self,
            cmd.CreatePlan,
            {"conversation_id": "Conversation", "id": "Plan"},
            message_id=optional_id(self.message_id, "Message"),
            steps=[step.to_command() for step in self.steps],
            context=json_object(self.context),
        )


@strawberry.input
class UpdateStepStatusInput:
    step_id: strawberry.ID
    status: StepStatus
    result: JSONValue | None = None
    error: str | None = None

    def to_command(self) -> cmd.UpdateStepStatus:
        return to_command(self, cmd.UpdateStepStatus, {"step_id": "PlanStep"})


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
    version_name: str | None = strawberry.field(
        default=None,
        description='A label ("v3", "2026-12-rollout"), 1 to 64 characters once trimmed, '
        "unique within the component (CONFLICT if another version has it).",
    )
    description: str | None = None
    tags: list[str] = strawberry.field(default_factory=list)

    def to_command(self) -> cmd.RegisterComponentVersion:
        return to_command(self, cmd.RegisterComponentVersion)


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

    def to_command(self) -> cmd.ChangeChatSettings:
        return to_command(self, cmd.ChangeChatSettings)
