"""The event log: recording events inside a write, and reading them back by cursor."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, case, inspect, select, update
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
from resolvers.ingest.rows import write_numbered_rows
from resolvers.principal import Identity

PENDING = "threadline.events"  # session.info key: events to publish after commit
IDS_PER_QUERY = 500  # conversation ids in one IN (...) of latest_seqs

# An ingested span arrives ended: its SPAN_STARTED and SPAN_ENDED are one row, the
# SPAN_ENDED with this key in its data, which takes two sequence numbers (its start's is
# seq - 1). Readers get the two events as if each had a row (load_events): the event log
# keeps half the rows and index entries for the largest share of its events. A query by
# kind finds such a start by its row's kind.
STARTED_TOO = "startedToo"
STARTS = {EventKind.SPAN_ENDED: EventKind.SPAN_STARTED}

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
        counts[row["conversation_id"]] += _numbers_taken(row)
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
        following[row["conversation_id"]] += _numbers_taken(row)
        row["seq"] = following[row["conversation_id"]]
    # One COPY (multi-row INSERTs on SQLite), not a unit-of-work flush of each object.
    ids = await write_numbered_rows(session, Event, rows)
    written = [
        Written(event_id, row["conversation_id"], row["seq"], row["kind"], row["trace_id"])
        for row, event_id in zip(rows, ids, strict=True)
    ]
    session.info.setdefault(PENDING, []).extend(written)


def _numbers_taken(row: dict[str, Any]) -> int:
    return 2 if row["data"].get(STARTED_TOO) else 1


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


async def load_events(
    sessions: RowSessionFactory,
    where: Sequence[Any],
    limit: int | None = None,
    *,
    with_members: bool = False,
) -> list[LoadedEvent]:
    """Events of the rows matching `where` (at most `limit` rows, of one or two events
    each: STARTED_TOO) in sequence order, each with its referenced rows (and,
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
    return [each for item in loaded for each in _events_of_row(item)]


def _events_of_row(item: LoadedEvent) -> list[LoadedEvent]:
    """The events a row holds: itself, after the start it implies (STARTED_TOO)."""
    event = item.event
    start = STARTS.get(event.kind)
    if start is None or not event.data.get(STARTED_TOO):
        return [item]
    values = {column.key: getattr(event, column.key) for column in inspect(Event).column_attrs}
    implied = Event(**{**values, "seq": event.seq - 1, "kind": start, "data": {}})
    return [LoadedEvent(implied, item.rows, item.members), item]


async def _add_members(session: Any, loaded: list[LoadedEvent]) -> None:
    members: dict[uuid.UUID, set[Identity]] = {}
    columns = (
        Participant.conversation_id,
        Participant.participant_type,
        Participant.participant_id,
    )
    rows = await session.execute(
        select(*map(col, columns)).where(
            col(Participant.conversation_id).in_({item.event.conversation_id for item in loaded}),
            col(Participant.active).is_(True),
        )
    )
    for conversation_id, kind, participant_id in rows:
        members.setdefault(conversation_id, set()).add(Identity(kind, participant_id))
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
