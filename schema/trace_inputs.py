"""Input types of the trace and span writes."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.enums import SpanKind, SpanStatus, TraceStatus
from resolvers.writes import commands as cmd
from schema.commands import optional_id, to_command
from schema.inputs import CLIENT_ID
from schema.pricing import CACHED_INPUT_TOKENS, STATED_COST, usd
from schema.scalars import EMPTY_OBJECT, JSONValue, json_object


@strawberry.input
class StartTraceInput:
    conversation_id: strawberry.ID
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    message_id: strawberry.ID | None = None
    name: str | None = None
    user_input: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    agent_id: str | None = strawberry.field(
        default=None,
        description="The agent participant of the conversation the run is for; by default "
        "the calling agent key's.",
    )
    started_at: datetime | None = None
    initial_memory_state: JSONValue | None = strawberry.field(
        default=None, description="The agent's memory as the run starts (a JSON object)."
    )
    initial_conversation_state: JSONValue | None = strawberry.field(
        default=None,
        description="The conversation as the run sees it when it starts (a JSON object).",
    )
    system_config: JSONValue | None = strawberry.field(
        default=None,
        description="The configuration the run runs with: models, parameters, flags (a JSON "
        "object).",
    )

    def to_command(self) -> cmd.StartTrace:
        return to_command(
            self,
            cmd.StartTrace,
            {"conversation_id": "Conversation", "id": "Trace"},
            message_id=optional_id(self.message_id, "Message"),
        )


@strawberry.input
class EndTraceInput:
    trace_id: strawberry.ID
    status: TraceStatus = TraceStatus.OK
    final_output: str | None = None
    message_id: strawberry.ID | None = None
    ended_at: datetime | None = None

    def to_command(self) -> cmd.EndTrace:
        return to_command(self, cmd.EndTrace, {"trace_id": "Trace", "message_id": "Message"})


@strawberry.input
class StartSpanInput:
    trace_id: strawberry.ID
    name: str
    kind: SpanKind = SpanKind.OTHER
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    parent_span_id: strawberry.ID | None = None
    plan_step_id: strawberry.ID | None = None
    started_at: datetime | None = None
    inputs: JSONValue | None = strawberry.field(default=None, description=EMPTY_OBJECT)
    attributes: JSONValue | None = strawberry.field(default=None, description=EMPTY_OBJECT)
    model: str | None = None
    provider: str | None = None
    component_version_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    memory_snapshot: JSONValue | None = strawberry.field(
        default=None, description="The agent's memory as this step sees it (a JSON object)."
    )
    conversation_context: JSONValue | None = strawberry.field(
        default=None, description="The conversation context this step works with (a JSON object)."
    )

    def to_command(self) -> cmd.StartSpan:
        return to_command(
            self,
            cmd.StartSpan,
            {"trace_id": "Trace", "id": "Span", "component_version_ids": "ComponentVersion"},
            parent_span_id=optional_id(self.parent_span_id, "Span"),
            plan_step_id=optional_id(self.plan_step_id, "PlanStep"),
            inputs=json_object(self.inputs),
            attributes=json_object(self.attributes),
        )


@strawberry.input(description="A span's error, structured.")
class SpanErrorInput:
    message: str
    type: str | None = strawberry.field(default=None, description="The exception's class.")
    stack: str | None = None
    retryable: bool | None = None

    def to_command(self) -> cmd.SpanError:
        return to_command(self, cmd.SpanError)


@strawberry.input
class EndSpanInput:
    span_id: strawberry.ID
    status: SpanStatus = SpanStatus.OK
    error: str | None = strawberry.field(
        default=None,
        description="The error, as text; if left out while `errorDetails` are given, their "
        "message.",
    )
    error_details: SpanErrorInput | None = strawberry.field(
        default=None,
        description="The error, structured, stored as given. Without them, the span's "
        "`errorDetails` reads `{message}` from `error`.",
    )
    ended_at: datetime | None = None
    outputs: JSONValue | None = strawberry.field(default=None, description=EMPTY_OBJECT)
    attributes: JSONValue | None = strawberry.field(
        default=None, description=f"Merged into the attributes given at start. {EMPTY_OBJECT}"
    )
    message_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The message this model call produced (in the same conversation): it "
        "shows the span's usage, counted once, by the span.",
    )
    model: str | None = None
    input_tokens: int = 0
    cached_input_tokens: int = strawberry.field(default=0, description=CACHED_INPUT_TOKENS)
    output_tokens: int = 0
    total_tokens: int | None = None
    cost: float | None = strawberry.field(default=None, description=STATED_COST)

    def to_command(self) -> cmd.EndSpan:
        return to_command(
            self,
            cmd.EndSpan,
            {"span_id": "Span", "message_id": "Message"},
            cost=usd(self.cost),
            error_details=self.error_details.to_command() if self.error_details else None,
            outputs=json_object(self.outputs),
            attributes=json_object(self.attributes),
        )
