"""Trace and Span types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

import models
from models.enums import CostSource, SpanKind, SpanStatus, TraceStatus
from resolvers import reads, trace_comparison
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.pagination import PageArgs
from resolvers.relations import (
    CHILDREN_OF_SPAN,
    ROOT_SPANS_OF_TRACE,
    SPANS_OF_TRACE,
    TOOL_CALLS_OF_SPAN,
    VERSIONS_OF_SPAN,
)
from resolvers.scores import SCORES_OF_SPAN, SCORES_OF_TRACE
from schema.node import Node, from_row, from_rows, maybe_from_row, related, required
from schema.pagination import Connection, PageArguments, nested_connection
from schema.pricing import CACHED_INPUT_TOKENS, COST_SOURCE, PRICE_ID
from schema.scalars import JSONValue, Long
from schema.score import Score, scores_field
from schema.span_filters import SpanFilter, SpanOrder, span_query, spans_of_trace
from schema.trace_analysis import SpanSubtree, TraceAnalysis, subtree
from schema.trace_comparison import TraceComparison

if TYPE_CHECKING:
    from schema.component import ComponentVersion
    from schema.conversation import Conversation
    from schema.message import Message, ToolCall
    from schema.plan import PlanStep

ConversationT = Annotated["Conversation", strawberry.lazy("schema.conversation")]
MessageT = Annotated["Message", strawberry.lazy("schema.message")]
ToolCallT = Annotated["ToolCall", strawberry.lazy("schema.message")]
PlanStepT = Annotated["PlanStep", strawberry.lazy("schema.plan")]
ComponentVersionT = Annotated["ComponentVersion", strawberry.lazy("schema.component")]


@strawberry.type
class Trace(Node):
    id: strawberry.ID
    name: str | None
    user_input: str | None
    final_output: str | None
    status: TraceStatus
    started_at: datetime
    ended_at: datetime | None
    duration_ms: float | None
    total_tokens: Long = strawberry.field(description="Sum over the trace's ended spans.")
    cost: float
    user_id: str | None
    session_id: str | None
    agent_id: str | None = strawberry.field(description="The agent participant the run was for.")
    initial_memory_state: JSONValue | None = strawberry.field(
        description="The agent's memory when the run started (a JSON object)."
    )
    initial_conversation_state: JSONValue | None = strawberry.field(
        description="The conversation as the run saw it when it started (a JSON object)."
    )
    system_config: JSONValue | None = strawberry.field(
        description="The configuration the run ran with: models, parameters, flags (a JSON object)."
    )
    scores: list[Score] = scores_field(SCORES_OF_TRACE, "trace")
    row: strawberry.Private[models.Trace]

    @strawberry.field
    async def conversation(self, info: Info[Context, None]) -> ConversationT:
        from schema.conversation import Conversation

        return await required(info, Conversation, self.row.conversation_id)

    @strawberry.field(description="The answer this trace produced.")
    async def message(self, info: Info[Context, None]) -> MessageT | None:
        from schema.message import Message

        return await related(info, Message, self.row.message_id)

    @strawberry.field(description="Spans without a parent, by start time.")
    async def root_spans(self, info: Info[Context, None]) -> list[Span]:
        rows = await info.context.loaders.rows_by(ROOT_SPANS_OF_TRACE).load(self.row.id)
        return from_rows(Span, rows)

    @strawberry.field(
        description="The trace's spans, by start time unless `orderBy` says.",
        extensions=[PageArguments()],
    )
    async def spans(
        self,
        info: Info[Context, None],
        filter: SpanFilter | None = None,
        order_by: SpanOrder | None = None,
        page: PageArgs = PageArgs(),
    ) -> Connection[Span]:
        if filter is None and order_by is None:
            return await nested_connection(info, SPANS_OF_TRACE, self.row.id, page, Span.of)
        return await spans_of_trace(info, self.row.id, span_query(filter, order_by), page)

    @strawberry.field(description="Duration, critical path, time by kind, errors, totals.")
    def analysis(self) -> TraceAnalysis:
        return TraceAnalysis(trace_id=self.row.id)

    @strawberry.field(
        description="This run (left) beside another (right), which must be a trace you can "
        "see (else NOT_FOUND)."
    )
    async def compare(self, info: Info[Context, None], other: strawberry.ID) -> TraceComparison:
        other_id = parse_id(other, "Trace")
        found = await trace_comparison.compare_traces(info.context, self.row, other_id)
        return TraceComparison(found=found)

    @classmethod
    def of(cls, row: models.Trace) -> Trace:
        return from_row(cls, row)


@strawberry.type(description="A span's error, structured.")
class SpanError:
    message: str
    type: str | None = strawberry.field(default=None, description="The exception's class.")
    stack: str | None = None
    retryable: bool | None = None

    @classmethod
    def of(cls, span: models.Span) -> SpanError | None:
        """As recorded; for an error recorded as a string only, its message."""
        details = span.error_details
        if details is None:
            return None if span.error is None else cls(message=span.error)
        return cls(
            type=details.get("type"),
            message=details["message"],
            stack=details.get("stack"),
            retryable=details.get("retryable"),
        )


@strawberry.type
class Span(Node):
    id: strawberry.ID
    kind: SpanKind
    name: str
    status: SpanStatus
    error: str | None = strawberry.field(
        description="The error's message (errorDetails.message when only those were given)."
    )
    started_at: datetime
    ended_at: datetime | None
    duration_ms: float | None
    inputs: JSONValue
    outputs: JSONValue
    attributes: JSONValue
    model: str | None
    provider: str | None
    tool_name: str | None = strawberry.field(
        description="A TOOL span's tool; null for other kinds."
    )
    input_tokens: int
    cached_input_tokens: int = strawberry.field(description=CACHED_INPUT_TOKENS)
    output_tokens: int
    total_tokens: int
    cost: float
    cost_source: CostSource = strawberry.field(description=COST_SOURCE)
    price_id: str | None = strawberry.field(description=PRICE_ID)
    memory_snapshot: JSONValue | None = strawberry.field(
        description="The agent's memory as this step saw it (a JSON object)."
    )
    conversation_context: JSONValue | None = strawberry.field(
        description="The conversation context this step worked with (a JSON object)."
    )
    scores: list[Score] = scores_field(SCORES_OF_SPAN, "span")
    row: strawberry.Private[models.Span]

    @strawberry.field(
        description="The error, structured; for an error recorded as a string only "
        "(`error`), just its message. Null without an error."
    )
    def error_details(self) -> SpanError | None:
        return SpanError.of(self.row)

    @strawberry.field
    async def trace(self, info: Info[Context, None]) -> Trace:
        return await required(info, Trace, self.row.trace_id)

    @strawberry.field
    async def parent(self, info: Info[Context, None]) -> Span | None:
        return await related(info, Span, self.row.parent_span_id)

    @strawberry.field(description="Child spans, by start time.")
    async def children(self, info: Info[Context, None]) -> list[Span]:
        rows = await info.context.loaders.rows_by(CHILDREN_OF_SPAN).load(self.row.id)
        return from_rows(Span, rows)

    @strawberry.field(description="Component versions (prompts, tools, ...) this span used.")
    async def component_versions(self, info: Info[Context, None]) -> list[ComponentVersionT]:
        from schema.component import ComponentVersion

        rows = await info.context.loaders.rows_by(VERSIONS_OF_SPAN).load(self.row.id)
        return from_rows(ComponentVersion, rows)

    @strawberry.field(description="The tool call this span executed.")
    async def tool_call(self, info: Info[Context, None]) -> ToolCallT | None:
        from schema.message import ToolCall

        row = await reads.one_per_parent(info.context, TOOL_CALLS_OF_SPAN).load(self.row.id)
        return maybe_from_row(ToolCall, row)

    @strawberry.field(description="The plan step this span executed.")
    async def plan_step(self, info: Info[Context, None]) -> PlanStepT | None:
        from schema.plan import PlanStep

        return await related(info, PlanStep, self.row.plan_step_id)

    @strawberry.field(description="Tokens, cost and errors of this span and all below it.")
    async def subtree(self, info: Info[Context, None]) -> SpanSubtree:
        return await subtree(info, self.row)

    @classmethod
    def of(cls, row: models.Span) -> Span:
        return from_row(cls, row)
