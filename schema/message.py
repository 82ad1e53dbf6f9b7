"""Message and ToolCall types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

import models
from models.enums import CostSource, MessageRole, MessageStatus, ParticipantType, ToolCallStatus
from resolvers import reads
from resolvers.context import Context
from resolvers.relations import (
    CHILDREN_OF_MESSAGE,
    SPANS_OF_MESSAGE,
    TOOL_CALLS_OF_MESSAGE,
    TRACES_OF_MESSAGE,
)
from resolvers.scores import SCORES_OF_MESSAGE
from schema.node import Node, from_row, from_rows, maybe_from_row, related, required
from schema.pricing import CACHED_INPUT_TOKENS, COST_SOURCE, PRICE_ID
from schema.scalars import JSONValue
from schema.score import Score, scores_field

if TYPE_CHECKING:
    from schema.conversation import Conversation
    from schema.trace import Span, Trace

ConversationT = Annotated["Conversation", strawberry.lazy("schema.conversation")]
TraceT = Annotated["Trace", strawberry.lazy("schema.trace")]
SpanT = Annotated["Span", strawberry.lazy("schema.trace")]


@strawberry.type
class Message(Node):
    id: strawberry.ID
    seq: int = strawberry.field(description="Position in the conversation, across branches.")
    sender_id: str
    sender_type: ParticipantType
    role: MessageRole
    content: str
    parts: list[JSONValue]
    thinking: str | None
    status: MessageStatus
    model: str | None
    provider: str | None
    temperature: float | None
    input_tokens: int
    cached_input_tokens: int = strawberry.field(description=CACHED_INPUT_TOKENS)
    output_tokens: int
    total_tokens: int
    cost: float
    cost_source: CostSource = strawberry.field(description=COST_SOURCE)
    price_id: str | None = strawberry.field(description=PRICE_ID)
    latency_ms: int | None
    attachments: list[JSONValue]
    metadata: JSONValue
    created_at: datetime
    updated_at: datetime
    scores: list[Score] = scores_field(SCORES_OF_MESSAGE, "message")
    row: strawberry.Private[models.Message]

    @strawberry.field
    async def conversation(self, info: Info[Context, None]) -> ConversationT:
        from schema.conversation import Conversation

        return await required(info, Conversation, self.row.conversation_id)

    @strawberry.field
    async def parent(self, info: Info[Context, None]) -> Message | None:
        return await related(info, Message, self.row.parent_message_id)

    @strawberry.field(description="Replies to this message; more than one where it branches.")
    async def children(self, info: Info[Context, None]) -> list[Message]:
        rows = await info.context.loaders.rows_by(CHILDREN_OF_MESSAGE).load(self.row.id)
        return from_rows(Message, rows)

    @strawberry.field
    async def tool_calls(self, info: Info[Context, None]) -> list[ToolCall]:
        rows = await info.context.loaders.rows_by(TOOL_CALLS_OF_MESSAGE).load(self.row.id)
        return from_rows(ToolCall, rows)

    @strawberry.field(description="The trace that produced this message.")
    async def trace(self, info: Info[Context, None]) -> TraceT | None:
        from schema.trace import Trace

        row = await reads.one_per_parent(info.context, TRACES_OF_MESSAGE).load(self.row.id)
        return maybe_from_row(Trace, row)

    @strawberry.field(description="Every span of the traces that produced this message.")
    async def spans(self, info: Info[Context, None]) -> list[SpanT]:
        from schema.trace import Span

        rows = await info.context.loaders.rows_by(SPANS_OF_MESSAGE).load(self.row.id)
        return from_rows(Span, rows)

    @classmethod
    def of(cls, row: models.Message) -> Message:
        return from_row(cls, row)


@strawberry.type
class ToolCall(Node):
    id: strawberry.ID
    call_id: str
    tool_name: str
    position: int
    arguments: JSONValue
    result: JSONValue | None
    status: ToolCallStatus
    error: str | None
    started_at: datetime | None
    ended_at: datetime | None
    row: strawberry.Private[models.ToolCall]

    @strawberry.field
    async def message(self, info: Info[Context, None]) -> Message:
        return await required(info, Message, self.row.message_id)

    @strawberry.field(description="The span that executed this call.")
    async def span(self, info: Info[Context, None]) -> SpanT | None:
        from schema.trace import Span

        return await related(info, Span, self.row.span_id)
