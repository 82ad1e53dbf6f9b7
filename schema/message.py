"""Message and ToolCall types."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

import models
from models.enums import (
    CostSource,
    MessageRole,
    MessageStatus,
    MessageType,
    ParticipantType,
    ReferenceKind,
    ToolCallStatus,
)
from resolvers import reads, validation
from resolvers.context import Context
from resolvers.ids import to_global_id
from resolvers.message_kinds import turn_of
from resolvers.relations import (
    CHILDREN_OF_MESSAGE,
    REFERENCES_OF_MESSAGE,
    SPANS_OF_MESSAGE,
    TOOL_CALLS_OF_MESSAGE,
    TRACES_OF_MESSAGE,
)
from resolvers.scores import SCORES_OF_MESSAGE
from resolvers.titles import message_text
from schema.node import Node, from_row, from_rows, maybe_from_row, related, required
from schema.pricing import CACHED_INPUT_TOKENS, COST_SOURCE, PRICE_ID
from schema.routing import RoutingDecision, Run, run_of
from schema.scalars import JSONValue
from schema.score import Score, scores_field

if TYPE_CHECKING:
    from schema.conversation import Conversation
    from schema.trace import Span, Trace

ConversationT = Annotated["Conversation", strawberry.lazy("schema.conversation")]
TraceT = Annotated["Trace", strawberry.lazy("schema.trace")]
SpanT = Annotated["Span", strawberry.lazy("schema.trace")]
PREVIEW_LENGTHS = (1, 1000)
# What str.split() keeps: `\s` is str.isspace() on str patterns.
WORD = re.compile(r"\S+")


def one_line(text: str, length: int) -> str | None:
    """`text` with each run of whitespace as one space, at most `length` characters: cut,
    the last one an ellipsis, when longer. None when there is nothing but whitespace."""
    words: list[str] = []
    size = -1
    # Only the words up to `length`: a long message is not split whole for its preview.
    for word in WORD.finditer(text):
        words.append(word.group())
        size += len(words[-1]) + 1
        if size > length:
            break
    line = " ".join(words)
    if len(line) <= length:
        return line or None
    return line[: length - 1].rstrip() + "…"


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
    message_type: MessageType = strawberry.field(
        description="What the message is, beside who said it: as its sender said; else ERROR "
        "when its status is ERROR, TOOL_RESULT for a TOOL message, TOOL_CALL or ANSWER for an "
        "ASSISTANT one (with tool calls or not), TEXT for the rest. An agent's `askUser` "
        "question is a QUESTION."
    )
    confidence: float | None = strawberry.field(
        description="How sure its sender was, from 0 to 1; null when it did not say."
    )
    scores: list[Score] = scores_field(SCORES_OF_MESSAGE, "message")
    row: strawberry.Private[models.Message]

    @strawberry.field(
        description="The turn the message belongs to (a user prompt and everything answering "
        "it share one), as the id of the message that opened it: this message's own id when "
        "it opened it, or when it was written before turns were kept. A USER message opens a "
        "turn; any other joins its parent's (its own without a parent), unless sent with "
        "`turnId`, which joins that message's turn; a user's `answerAgent` continues the "
        "question's turn. An edit of a USER message opens a turn, any other edit keeps the "
        "original's."
    )
    def turn_id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Message", turn_of(self.row)))

    @strawberry.field(description="What the message relies on, in the order its sender gave.")
    async def references(self, info: Info[Context, None]) -> list[MessageReference]:
        rows = await info.context.loaders.rows_by(REFERENCES_OF_MESSAGE).load(self.row.id)
        return [MessageReference.of(row) for row in rows]

    @strawberry.field(
        description="The text on one line, for lists (`lastMessage { preview }`): each run of "
        "whitespace as one space, at most `length` (1 to 1000) characters, the last of them "
        "an ellipsis (…) when the text is longer. The text is `content` or, where that is "
        "blank, the `text` parts in order (not reasoning, tool calls or files); null when "
        "there is none."
    )
    def preview(self, length: int = 100) -> str | None:
        validation.in_range("length", length, *PREVIEW_LENGTHS)
        return one_line(message_text(self.row.content, self.row.parts), length)

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

    @strawberry.field(
        description="Why the message went where it went (to an agent, a plain model...), as "
        "its sender's router decided; null when it was sent without a decision."
    )
    def routing_decision(self) -> RoutingDecision | None:
        stored = self.row.routing_decision
        return None if stored is None else RoutingDecision.of(stored)

    @strawberry.field(
        description="The run answering the message (its `runId`): a trace or an agent "
        "session of its conversation; null when none, or deleted."
    )
    async def run(self, info: Info[Context, None]) -> Run | None:
        return await run_of(info, self.row)

    @classmethod
    def of(cls, row: models.Message) -> Message:
        return from_row(cls, row)


@strawberry.type(
    description="What a message relies on: a message or a span of its conversation, or an "
    "external document."
)
class MessageReference:
    kind: ReferenceKind
    document: str | None = strawberry.field(
        description="An external document's id or URL (kind DOCUMENT)."
    )
    title: str | None
    row: strawberry.Private[models.MessageReference]

    @strawberry.field(
        description="The Message or Span referred to; null for a document, and when the "
        "target was deleted or you may not see it."
    )
    async def node(self, info: Info[Context, None]) -> Node | None:
        from schema.trace import Span

        if self.row.target_span_id is not None:
            return await related(info, Span, self.row.target_span_id)
        return await related(info, Message, self.row.target_message_id)

    @classmethod
    def of(cls, row: models.MessageReference) -> MessageReference:
        return cls(kind=row.kind, document=row.document, title=row.title, row=row)


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
