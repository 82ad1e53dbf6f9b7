"""The event log: recording events inside a write, and what its readers share
(resolvers.event_log reads it)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
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
from models.base import utcnow
from models.enums import EventKind
from resolvers.db import RowSessionFactory
from resolvers.event_rows import ROW_KIND, listings, numbers_of
from resolvers.ingest.rows import write_numbered_rows
from resolvers.principal import Identity

PENDING = "threadline.events"  # session.info key: events to publish after commit
IDS_PER_QUERY = 500  # conversation ids in one IN (...) of latest_seqs

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
NO_REFERENCES = dict.fromkeys(REFERENCES.keys() - {"conversation_id"})


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
    seq = await take_seq(session, conversation_id)
    return append(session, conversation_id, seq, kind, data, **refs)


def append(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    seq: int,
    kind: EventKind,
    data: dict[str, Any] | None = None,
    **refs: uuid.UUID | None,
) -> Event:
    """`record`, for a caller that took the event's number itself, in an update of the
    conversation row that locked it just the same (sendMessage's, an answer chunk's)."""
    values: dict[str, Any] = {
        "conversation_id": conversation_id,
        "seq": seq,
        "kind": kind,
        "data": data or {},
        **refs,
    }
    event = Event(**values)
    session.add(event)
    session.info.setdefault(PENDING, []).append(event)
    return event


# Built once: every mutation records events, most of them one or two.
_TAKE_ONE_SEQ = (
    update(Conversation)
    .where(col(Conversation.id) == bindparam("c"))
    .values(last_event_seq=col(Conversation.last_event_seq) + 1)
    .returning(col(Conversation.last_event_seq))
    .execution_options(synchronize_session=False)
)


async def take_seq(session: AsyncSession, conversation_id: uuid.UUID) -> int:
    """Reserve the conversation's next event sequence number (locking the conversation
    until commit), for `append`."""
    result = await session.exec(_TAKE_ONE_SEQ, params={"c": conversation_id})
    taken: int = result.scalar_one()
    _keep_current(session, conversation_id, taken)
    return taken


def _keep_current(session: AsyncSession, conversation_id: uuid.UUID, seq: int) -> None:
    """The number taken, on the session's conversation object too, if it holds one: the
    UPDATE bypassed it, and a mutation that returns the conversation would answer with
    the number before its own events (its lastEventCursor replaying them)."""
    conversation = session.identity_map.get(identity_key(Conversation, conversation_id))
    if conversation is not None:
        set_committed_value(conversation, "last_event_seq", seq)


class Published(Protocol):
    """What publishing reads of an event: an Event, or a row written by record_many."""

    @property
    def id(self) -> int | None: ...
    @property
    def conversation_id(self) -> uuid.UUID: ...
    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> EventKind: ...
    @property
    def trace_id(self) -> uuid.UUID | None: ...


@dataclass(frozen=True)
class Written:
    id: int
    conversation_id: uuid.UUID
    seq: int
    kind: EventKind
    trace_id: uuid.UUID | None


def event_row(
    conversation_id: uuid.UUID,
    kind: EventKind,
    data: dict[str, Any] | None = None,
    **refs: uuid.UUID | None,
) -> dict[str, Any]:
    """An event for record_many, as a plain row: building Event objects costs more than
    writing them, for the thousands of events of an ingestion batch."""
    return {
        "conversation_id": conversation_id,
        "kind": kind,
        "data": data or {},
        "created_at": utcnow(),
        **NO_REFERENCES,
        **refs,
    }


async def record_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Write events (event_row) as `record` does, with one sequence update for all their
    conversations: for batches (ingestion), whose conversations are locked already.
    Each conversation's events are numbered in list order."""
    counts: Counter[uuid.UUID] = Counter()
    for row in rows:
        counts[row["conversation_id"]] += numbers_of(row["data"])
    if not counts:
        return
    taken = await session.exec(
        update(Conversation)
        .where(col(Conversation.id).in_(counts))
        .values(
            last_event_seq=col(Conversation.last_event_seq)
            + case(counts, value=col(Conversation.id))
        )
        .returning(col(Conversation.id), col(Conversation.last_event_seq))
        .execution_options(synchronize_session=False)
    )
    ends = taken.all()
    following = {c: last - counts[c] for c, last in ends}
    for conversation_id, last in ends:
        _keep_current(session, conversation_id, last)
    for row in rows:
        following[row["conversation_id"]] += numbers_of(row["data"])
        row["seq"] = following[row["conversation_id"]]
    # One COPY (multi-row INSERTs on SQLite), not a unit-of-work flush of each object.
    ids = await write_numbered_rows(session, Event, rows)
    written = [
        Written(event_id, row["conversation_id"], row["seq"], row["kind"], row["trace_id"])
        for row, event_id in zip(rows, ids, strict=True)
    ]
    session.info.setdefault(PENDING, []).extend(written)


def span_rows(
    conversation_id: uuid.UUID, trace_id: uuid.UUID, span_ids: Sequence[uuid.UUID]
) -> list[dict[str, Any]]:
    """The events of ingested spans of one trace, in the order they started, for
    record_many: rows listing them (resolvers.event_rows)."""
    return [
        event_row(conversation_id, ROW_KIND, listing, trace_id=trace_id)
        for listing in listings(span_ids)
    ]


@contextmanager
def kept_on_success(session: AsyncSession) -> Iterator[None]:
    """Events recorded inside are forgotten if it raises: around a savepoint, whose
    rollback undoes their rows, so that they are not published."""
    recorded = session.info.setdefault(PENDING, [])
    mark = len(recorded)
    try:
        yield
    except BaseException:
        del recorded[mark:]
        raise


def pending(session: AsyncSession) -> list[Published]:
    """The events a transaction recorded (taken once, after it commits)."""
    found: list[Published] = session.info.pop(PENDING, [])
    return found


@dataclass
class LoadedEvent:
    """An event with the rows it points at, loaded once and shared by every subscriber."""

    event: Event
    rows: dict[str, Any] = field(default_factory=dict)
    # The conversation's active participants, where asked for: who may see the event.
    members: frozenset[Identity] = frozenset()

    @property
    def seq(self) -> int:
        return self.event.seq


async def latest_seq(sessions: RowSessionFactory, conversation_id: uuid.UUID) -> int:
    return (await latest_seqs(sessions, [conversation_id])).get(conversation_id, 0)


async def latest_seqs(
    sessions: RowSessionFactory, conversation_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Each conversation's last event seq; one that does not exist (deleted) is left out."""
    ids = list(conversation_ids)
    found: dict[uuid.UUID, int] = {}
    async with sessions() as session:
        for start in range(0, len(ids), IDS_PER_QUERY):
            rows = await session.execute(
                select(col(Conversation.id), col(Conversation.last_event_seq)).where(
                    col(Conversation.id).in_(ids[start : start + IDS_PER_QUERY])
                )
            )
            found.update({conversation_id: int(seq) for conversation_id, seq in rows})
    return found
