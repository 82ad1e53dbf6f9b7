"""Input types of bulk ingestion: one item per write, each the input of its own mutation."""

from __future__ import annotations

import strawberry

from schema.agent_inputs import (
    AppendAnswerChunkInput,
    ReportThoughtInput,
    ReportToolEndInput,
    ReportToolStartInput,
)
from schema.inputs import (
    CreateConversationInput,
    EndSpanInput,
    EndTraceInput,
    SendMessageInput,
    StartSpanInput,
    StartTraceInput,
    UpdateStepStatusInput,
)


@strawberry.input(one_of=True, description="As startTrace, or as endTrace.")
class IngestTraceInput:
    start: StartTraceInput | None = strawberry.UNSET
    end: EndTraceInput | None = strawberry.UNSET


@strawberry.input(one_of=True, description="As startSpan, or as endSpan.")
class IngestSpanInput:
    start: StartSpanInput | None = strawberry.UNSET
    end: EndSpanInput | None = strawberry.UNSET


@strawberry.input(one_of=True, description="As reportToolStart, or as reportToolEnd.")
class IngestToolCallInput:
    start: ReportToolStartInput | None = strawberry.UNSET
    end: ReportToolEndInput | None = strawberry.UNSET


@strawberry.input(one_of=True, description="As appendAnswerChunk, or as reportThought.")
class IngestEventInput:
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
