"""The event log: recording events inside a write, and reading them back by cursor."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from models import (
    AgentSession,
    Conversation,
    Event,
    Message,
    Participant,
    Plan,
    PlanStep,
    Span,
    ToolCall,
    Trace,
)
from models.enums import EventKind
from resolvers.db import RowSessionFactory

PENDING = "threadline.events"  # session.info key: events to publish after commit

# The rows an event may point at, by the event column holding their id.
REFERENCES: dict[str, Any] = {
    "conversation_id": Conversation,
    "message_id": Message,
    "tool_call_id": ToolCall,
    "trace_id": Trace,
    "span_id": Span,
    "plan_id": Plan,
    "plan_step_id": PlanStep,
    "participant_id": Participant,
    "agent_session_id": AgentSession,
}


async def record(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    kind: EventKind,
    data: dict[str, Any] | None = None,
    **refs: uuid.UUID | None,
) -> Event:
    """Write an event in the current transaction; it is published once that commits.

    Taking the sequence number locks the conversation row until commit, so a
    conversation's events are numbered without gaps and in commit order.
    """
    result = await session.exec(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id)
        .values(last_event_seq=col(Conversation.last_event_seq) + 1)
        .returning(col(Conversation.last_event_seq))
        .execution_options(synchronize_session=False)
    )
    values: dict[str, Any] = {
        "conversation_id": conversation_id,
        "seq": result.scalar_one(),
        "kind": kind,
        "data": data or {},
        **refs,
    }
    event = Event(**values)
    session.add(event)
    session.info.setdefault(PENDING, []).append(event)
    return event


def pending(session: AsyncSession) -> list[Event]:
    """The events a transaction recorded (taken once, after it commits)."""
    found: list[Event] = session.info.pop(PENDING, [])
    return found


@dataclass
class LoadedEvent:
    """An event with the rows it points at, loaded once and shared by every subscriber."""

    event: Event
    rows: dict[str, Any] = field(default_factory=dict)
    # The conversation's active participants, where asked for: who may see the event.
    members: frozenset[str] = frozenset()

    @property
    def seq(self) -> int:
        return self.event.seq


async def load_events(
    sessions: RowSessionFactory,
    where: Sequence[Any],
    limit: int | None = None,
    *,
    with_members: bool = False,
) -> list[LoadedEvent]:
    """Events matching `where` in sequence order, each with its referenced rows (and,
    `with_members`, its conversation's active participants)."""
    async with sessions() as session:
        statement = select(Event).where(*where).order_by(col(Event.conversation_id), col(Event.seq))
        if limit is not None:
            statement = statement.limit(limit)
        events = list((await session.execute(statement)).scalars())
        loaded = [LoadedEvent(event) for event in events]
        for column, model in REFERENCES.items():
            ids = {getattr(e, column) for e in events} - {None}
            if not ids:
                continue
            rows = (await session.execute(select(model).where(col(model.id).in_(ids)))).scalars()
            by_id = {row.id: row for row in rows}
            for item in loaded:
                ref = getattr(item.event, column)
                if ref in by_id:
                    item.rows[column] = by_id[ref]
        if with_members and events:
            await _add_members(session, loaded)
    return loaded


async def _add_members(session: Any, loaded: list[LoadedEvent]) -> None:
    members: dict[uuid.UUID, set[str]] = {}
    rows = await session.execute(
        select(col(Participant.conversation_id), col(Participant.participant_id)).where(
            col(Participant.conversation_id).in_({item.event.conversation_id for item in loaded}),
            col(Participant.active).is_(True),
        )
    )
    for conversation_id, participant_id in rows:
        members.setdefault(conversation_id, set()).add(participant_id)
    for item in loaded:
        item.members = frozenset(members.get(item.event.conversation_id, ()))


def in_conversation_after(
    conversation_id: uuid.UUID, after_seq: int, up_to: int | None = None
) -> list[Any]:
    found = [col(Event.conversation_id) == conversation_id, col(Event.seq) > after_seq]
    if up_to is not None:
        found.append(col(Event.seq) <= up_to)
    return found


async def latest_seq(sessions: RowSessionFactory, conversation_id: uuid.UUID) -> int:
    async with sessions() as session:
        seq = await session.scalar(
            select(col(Conversation.last_event_seq)).where(col(Conversation.id) == conversation_id)
        )
    return int(seq or 0)
