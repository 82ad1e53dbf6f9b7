"""Reading the event log: a conversation's events by cursor, a page at a time, and the
events of rows a notice names; each event with the rows it points at.

Both count events, not rows: a row may hold thousands (resolvers.event_rows), and what
a read holds, or hands a live subscriber at once, stays bounded all the same.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models import Event, Participant
from resolvers.db import RowSessionFactory
from resolvers.event_rows import MAX_NUMBERS, MAX_SEQ, events_of, numbers_of
from resolvers.events import REFERENCES, LoadedEvent
from resolvers.principal import Identity

PAGE = 200  # events in one page of a conversation's log


@dataclass(frozen=True)
class LogPage:
    events: list[LoadedEvent]
    # The `after` of the next page; None when nothing more (up to `up_to`) is logged.
    next_after: int | None


async def log_page(
    sessions: RowSessionFactory,
    conversation_id: uuid.UUID,
    after: int,
    up_to: int | None,
    where: Sequence[Any],
) -> LogPage:
    """The events numbered after `after`, at most PAGE of them (and none past `up_to`),
    of the conversation's rows matching `where`."""
    end = min(after + PAGE, MAX_SEQ if up_to is None else up_to)
    conversation = col(Event.conversation_id) == conversation_id
    # The rows numbered up to `end`, and the first one past it, which may hold events up
    # to `end` too and otherwise shows where the next page starts (before `up_to`: a row
    # holds at most MAX_NUMBERS, so none further on can).
    bounds = [col(Event.seq) > end]
    if up_to is not None:
        bounds.append(col(Event.seq) < up_to + MAX_NUMBERS)
    past_end = (
        select(col(Event.seq))
        .where(conversation, *bounds, *where)
        .order_by(col(Event.seq))
        .limit(1)
        .scalar_subquery()
    )
    statement = (
        select(Event)
        .where(
            conversation,
            col(Event.seq) > after,
            col(Event.seq) <= func.coalesce(past_end, end),
            *where,
        )
        .order_by(col(Event.seq))
    )
    async with sessions() as session:
        rows = list((await session.execute(statement)).scalars())
        events = [event for row in rows for event in events_of(row, after, end)]
        loaded = await _resolved(session, events)
    return LogPage(loaded, _next_after(rows, end, up_to))


def _next_after(rows: list[Event], end: int, up_to: int | None) -> int | None:
    if not rows or rows[-1].seq <= end or end == up_to:
        return None
    # Past `end`: the next page starts at its first event (none matched in between).
    following = rows[-1]
    next_after = max(end, following.seq - numbers_of(following.data))
    return None if up_to is not None and next_after >= up_to else next_after


async def load_events(
    sessions: RowSessionFactory, ids: Collection[int], per_read: int, *, with_members: bool
) -> AsyncGenerator[list[LoadedEvent], None]:
    """The events of the rows with these ids, in sequence order, `per_read` at a time
    with the rows they point at (and, `with_members`, their conversation's active
    participants)."""
    async with sessions() as session:
        statement = (
            select(Event)
            .where(col(Event.id).in_(ids))
            .order_by(col(Event.conversation_id), col(Event.seq))
        )
        rows = list((await session.execute(statement)).scalars())
        events = (event for row in rows for event in events_of(row))
        while chunk := list(islice(events, per_read)):
            loaded = await _resolved(session, chunk)
            if with_members:
                await _add_members(session, loaded)
            yield loaded


async def _resolved(session: AsyncSession, events: Iterable[Event]) -> list[LoadedEvent]:
    """The events, each with the rows it points at."""
    loaded = [LoadedEvent(event) for event in events]
    for column, model in REFERENCES.items():
        ids = {getattr(item.event, column) for item in loaded} - {None}
        if not ids:
            continue
        rows = (await session.execute(select(model).where(col(model.id).in_(ids)))).scalars()
        by_id = {row.id: row for row in rows}
        for item in loaded:
            ref = getattr(item.event, column)
            if ref in by_id:
                item.rows[column] = by_id[ref]
    return loaded


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
