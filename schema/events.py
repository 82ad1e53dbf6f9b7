"""Live event types: one interface, a type per family of event kinds.

The rows an event points at were loaded once by the hub for every subscriber,
so these fields read them without a query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

import models
from models.enums import EventKind
from resolvers.context import Context
from resolvers.events import LoadedEvent
from resolvers.writes.routing import DECISION
from schema.agent import AgentSession
from schema.conversation import Conversation, Participant
from schema.message import Message, ToolCall
from schema.node import from_row, maybe_from_row
from schema.plan import Plan, PlanStep
from schema.routing import RoutingDecision, Run
from schema.trace import Span, Trace
from subscriptions.streams import encode_cursor


@strawberry.interface(description="Something that happened in a conversation.")
class ConversationEvent:
    seq: int = strawberry.field(description="Position in the conversation's events, from 1.")
    cursor: str = strawberry.field(description="Pass as `after` to resume after this event.")
    kind: EventKind
    created_at: datetime
    item: strawberry.Private[LoadedEvent]

    @strawberry.field
    async def conversation(self, info: Info[Context, None]) -> Conversation:
        row = self.item.rows.get("conversation_id")
        if row is None:  # read by the hub with the event; this is a fallback
            loader = info.context.loaders.by_id(models.Conversation)
            row = await loader.load(self.item.event.conversation_id)
        return from_row(Conversation, row)

    def _row(self, column: str, cls: type[Any]) -> Any:
        return maybe_from_row(cls, self.item.rows.get(column))

    def _data(self, key: str) -> Any:
        return self.item.event.data.get(key)


# Fields several event types share, each written once as an interface of its own, so
# a client may also select them across types (`... on EventWithMessage { message }`).


@strawberry.interface(description="An event about a message.")
class EventWithMessage(ConversationEvent):
    @strawberry.field(description="The message the event is about.")
    def message(self) -> Message | None:
        return self._row("message_id", Message)


@strawberry.interface(description="An event carrying text: a chunk, a thought, a question.")
class EventWithText(ConversationEvent):
    @strawberry.field
    def text(self) -> str:
        return str(self._data("text") or "")


@strawberry.interface(description="An event of an agent session.")
class EventWithAgentSession(ConversationEvent):
    @strawberry.field
    def agent_session(self) -> AgentSession | None:
        return self._row("agent_session_id", AgentSession)


@strawberry.interface(description="An event about a span.")
class EventWithSpan(ConversationEvent):
    @strawberry.field
    def span(self) -> Span | None:
        return self._row("span_id", Span)


@strawberry.type(description="MESSAGE_CREATED, MESSAGE_UPDATED.")
class MessageEvent(EventWithMessage):
    pass


@strawberry.type(
    description="MESSAGE_ROUTED: a message was sent with a routing decision (after its "
    "MESSAGE_CREATED): where it went and why, and the run answering it."
)
class MessageRoutedEvent(EventWithMessage):
    @strawberry.field
    def routing_decision(self) -> RoutingDecision:
        return RoutingDecision.of(self._data(DECISION))

    @strawberry.field(description="The run answering the message, if it named one.")
    def run(self) -> Run | None:
        trace: Trace | None = self._row("trace_id", Trace)
        return trace or self._row("agent_session_id", AgentSession)


@strawberry.type(description="ANSWER_CHUNK: text appended to a STREAMING message.")
class AnswerChunkEvent(EventWithText, EventWithMessage):
    pass


@strawberry.type(description="THOUGHT: what the agent is thinking.")
class ThoughtEvent(EventWithText, EventWithMessage):
    pass


@strawberry.type(description="TOOL_START, TOOL_END.")
class ToolEvent(EventWithSpan):
    @strawberry.field
    def tool_call(self) -> ToolCall | None:
        return self._row("tool_call_id", ToolCall)


@strawberry.type(description="ASK_USER (the agent's question), USER_ANSWER (the user's reply).")
class AgentExchangeEvent(EventWithText, EventWithMessage, EventWithAgentSession):
    pass


@strawberry.type(
    description="AGENT_SESSION_STARTED, COMPLETE, ERROR, AGENT_SESSION_STALE (no answer "
    "came in time): an agent run began or ended."
)
class RunEvent(EventWithMessage, EventWithAgentSession):
    @strawberry.field
    def error(self) -> str | None:
        found = self._data("error")
        return None if found is None else str(found)


@strawberry.type(description="PLAN_UPDATED, STEP_STATUS.")
class PlanEvent(ConversationEvent):
    @strawberry.field
    def plan(self) -> Plan | None:
        return self._row("plan_id", Plan)

    @strawberry.field
    def step(self) -> PlanStep | None:
        return self._row("plan_step_id", PlanStep)


@strawberry.type(description="SPAN_STARTED, SPAN_ENDED.")
class SpanEvent(EventWithSpan):
    @strawberry.field
    def trace(self) -> Trace | None:
        return self._row("trace_id", Trace)


@strawberry.type(description="TRACE_STARTED, TRACE_ENDED.")
class TraceEvent(ConversationEvent):
    @strawberry.field
    def trace(self) -> Trace | None:
        return self._row("trace_id", Trace)


@strawberry.type(description="PARTICIPANT_JOINED, PARTICIPANT_LEFT, PARTICIPANT_ROLE_CHANGED.")
class ParticipantEvent(ConversationEvent):
    @strawberry.field
    def participant(self) -> Participant | None:
        return self._row("participant_id", Participant)


@strawberry.type(description="CONVERSATION_CREATED, CONVERSATION_UPDATED, CONVERSATION_STATUS.")
class ConversationChangeEvent(ConversationEvent):
    @strawberry.field(description="The fields an update changed.")
    def fields(self) -> list[str]:
        return list(self._data("fields") or [])


@strawberry.type(description="MESSAGES_DELETED: a message and every reply below it were deleted.")
class MessagesDeletedEvent(ConversationEvent):
    @strawberry.field(description="The ids of the deleted messages.")
    def message_ids(self) -> list[strawberry.ID]:
        return [strawberry.ID(i) for i in self._data("messageIds") or []]


@strawberry.type(
    description="CONVERSATION_DELETED: the conversation is gone with all it held; the "
    "subscription ends after this event. `conversation` shows it as it was."
)
class ConversationDeletedEvent(ConversationEvent):
    pass


TYPE_OF_KIND: dict[EventKind, type[ConversationEvent]] = {
    EventKind.MESSAGE_CREATED: MessageEvent,
    EventKind.MESSAGE_UPDATED: MessageEvent,
    EventKind.MESSAGE_ROUTED: MessageRoutedEvent,
    EventKind.ANSWER_CHUNK: AnswerChunkEvent,
    EventKind.THOUGHT: ThoughtEvent,
    EventKind.TOOL_START: ToolEvent,
    EventKind.TOOL_END: ToolEvent,
    EventKind.ASK_USER: AgentExchangeEvent,
    EventKind.USER_ANSWER: AgentExchangeEvent,
    EventKind.COMPLETE: RunEvent,
    EventKind.ERROR: RunEvent,
    EventKind.PLAN_UPDATED: PlanEvent,
    EventKind.STEP_STATUS: PlanEvent,
    EventKind.TRACE_STARTED: TraceEvent,
    EventKind.TRACE_ENDED: TraceEvent,
    EventKind.AGENT_SESSION_STARTED: RunEvent,
    EventKind.AGENT_SESSION_STALE: RunEvent,
    EventKind.MESSAGES_DELETED: MessagesDeletedEvent,
    EventKind.CONVERSATION_DELETED: ConversationDeletedEvent,
    EventKind.SPAN_STARTED: SpanEvent,
    EventKind.SPAN_ENDED: SpanEvent,
    EventKind.PARTICIPANT_JOINED: ParticipantEvent,
    EventKind.PARTICIPANT_LEFT: ParticipantEvent,
    EventKind.PARTICIPANT_ROLE_CHANGED: ParticipantEvent,
    EventKind.CONVERSATION_CREATED: ConversationChangeEvent,
    EventKind.CONVERSATION_UPDATED: ConversationChangeEvent,
    EventKind.CONVERSATION_STATUS: ConversationChangeEvent,
}
EVENT_TYPES = tuple(dict.fromkeys(TYPE_OF_KIND.values()))


def to_graphql(item: LoadedEvent) -> ConversationEvent:
    event = item.event
    cls = TYPE_OF_KIND[event.kind]
    return cls(
        seq=event.seq,
        cursor=encode_cursor(event.conversation_id, event.seq),
        kind=event.kind,
        created_at=event.created_at,
        item=item,
    )
