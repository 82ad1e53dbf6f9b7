"""Input types of bulk ingestion: one item per write, each the input of its own mutation."""

from __future__ import annotations

import dataclasses
from typing import Any

import strawberry

from resolvers import validation
from schema.agent_inputs import (
    AppendAnswerChunkInput,
    ReportThoughtInput,
    ReportToolEndInput,
    ReportToolStartInput,
)
from schema.inputs import CreateConversationInput, SendMessageInput, UpdateStepStatusInput
from schema.trace_inputs import EndSpanInput, EndTraceInput, StartSpanInput, StartTraceInput


class _Choice:
    """A @oneOf input of two writes' inputs."""

    def to_command(self) -> Any:
        """The command of the one input that was sent (GraphQL checked that one was)."""
        values = [getattr(self, field.name) for field in dataclasses.fields(self)]  # type: ignore[arg-type]
        [given] = [v for v in values if v is not None and v is not strawberry.UNSET]
        return given.to_command()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@strawberry.input(one_of=True, description="As startTrace, or as endTrace.")
class IngestTraceInput(_Choice):
    start: StartTraceInput | None = strawberry.UNSET
    end: EndTraceInput | None = strawberry.UNSET


@strawberry.input(one_of=True, description="As startSpan, or as endSpan.")
class IngestSpanInput(_Choice):
    start: StartSpanInput | None = strawberry.UNSET
    end: EndSpanInput | None = strawberry.UNSET


@strawberry.input(one_of=True, description="As reportToolStart, or as reportToolEnd.")
class IngestToolCallInput(_Choice):
    start: ReportToolStartInput | None = strawberry.UNSET
    end: ReportToolEndInput | None = strawberry.UNSET


@strawberry.input(one_of=True, description="As appendAnswerChunk, or as reportThought.")
class IngestEventInput(_Choice):
    answer_chunk: AppendAnswerChunkInput | None = strawberry.UNSET
    thought: ReportThoughtInput | None = strawberry.UNSET


@strawberry.input(
    description="One write of a batch: exactly one of its fields besides `clientEventId`, "
    "checked per item (an item with none or several fails alone, BAD_USER_INPUT)."
)
class IngestItem:
    client_event_id: str = strawberry.field(
        description="Chosen by the client, unique per user: an item sent again with the id "
        "of an item that succeeded returns that item's result and writes nothing."
    )
    conversation: CreateConversationInput | None = None
    message: SendMessageInput | None = None
    tool_call: IngestToolCallInput | None = None
    trace: IngestTraceInput | None = None
    span: IngestSpanInput | None = None
    step_status: UpdateStepStatusInput | None = None
    event: IngestEventInput | None = None

    def to_command(self) -> Any:
        """The command of the one write the item asks for (BadInput unless exactly one)."""
        choices = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name != "client_event_id"
        }
        validation.exactly_one(**{_camel(name): value for name, value in choices.items()})
        return next(value for value in choices.values() if value is not None).to_command()
