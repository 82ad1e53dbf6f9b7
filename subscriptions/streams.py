"""What one subscriber receives: the log after its cursor, then live events, with no
gap and no duplicate, whatever the broadcast backend drops or repeats."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from models import Event
from models.enums import EventKind
from resolvers.context import Context
from resolvers.db import is_unavailable
from resolvers.errors import RETRY_AFTER_SECONDS, BadInput, Forbidden, ResumeRequired
from resolvers.event_log import log_page
from resolvers.event_rows import MAX_SEQ
from resolvers.events import LoadedEvent, latest_seq
from resolvers.reads import may_read_conversation
from subscriptions.bus import EventBus
from subscriptions.hub import Signal

# Events after which a subscriber may have lost access (on whichever process wrote them):
# access is checked again before anything more is delivered.
ACCESS_CHANGES = frozenset({EventKind.PARTICIPANT_LEFT, EventKind.PARTICIPANT_ROLE_CHANGED})
CURSOR_PREFIX = "event:"


def encode_cursor(conversation_id: uuid.UUID, seq: int) -> str:
    """An event's position, tied to its conversation so it cannot be used elsewhere."""
    raw = f"{CURSOR_PREFIX}{conversation_id}:{seq}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str, conversation_id: uuid.UUID) -> int:
    """The sequence number in a cursor of this conversation, or BAD_USER_INPUT."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not raw.startswith(CURSOR_PREFIX):
            raise ValueError(raw)
        owner, _, number = raw.removeprefix(CURSOR_PREFIX).rpartition(":")
        if not number.isascii() or not number.isdigit():
            raise ValueError(raw)
        seq = int(number)
        # Sequence numbers are 32-bit columns: a larger one would fail in the database.
        if uuid.UUID(owner) != conversation_id or seq > MAX_SEQ:
            raise ValueError(raw)
        return seq
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadInput(f"'{cursor}' is not a cursor of this conversation's events") from None


@dataclass(frozen=True)
class Selection:
    """Which of a conversation's events a subscriber wants: in SQL for the log, in
    Python for live events, the same rule both ways."""

    sql: Sequence[Any] = ()
    accepts: Callable[[Event], bool] = field(default=lambda _event: True)
    # Ends the stream after an accepted event for which this is true.
    last: Callable[[Event], bool] = field(default=lambda _event: False)


def database_lost(cursor: str) -> ResumeRequired:
    """How a stream ends when the database fails under it: resume from `cursor` soon."""
    return ResumeRequired(
        "live updates stopped: the database is unavailable; subscribe again with `after` "
        "to continue in a moment",
        cursor=cursor,
        retryAfter=RETRY_AFTER_SECONDS,
    )


async def require_access(ctx: Context, conversation_id: uuid.UUID) -> None:
    """End the stream of a subscriber who may no longer see the conversation."""
    if not await may_read_conversation(ctx, conversation_id):
        raise Forbidden("you no longer have access to this conversation; the stream has ended")


def require_bus(ctx: Context) -> EventBus:
    """The context's bus, whose hub live streams follow."""
    if not isinstance(ctx.bus, EventBus):
        raise ResumeRequired("live events are not available on this connection")
    return ctx.bus


def revoked_keys(ctx: Context) -> set[uuid.UUID]:
    """The API keys this process heard were revoked."""
    return ctx.bus.hub.revoked_keys if isinstance(ctx.bus, EventBus) else set()


async def read_log(
    ctx: Context, conversation_id: uuid.UUID, after: int, up_to: int | None, selection: Selection
) -> AsyncIterator[LoadedEvent]:
    """Logged events after `after` (up to `up_to`), in pages so memory stays flat."""
    next_after: int | None = after
    while next_after is not None:
        page = await log_page(
            ctx.database.row_sessions, conversation_id, next_after, up_to, selection.sql
        )
        for item in page.events:
            if selection.accepts(item.event):
                yield item
        next_after = page.next_after


async def conversation_events(
    ctx: Context, conversation_id: uuid.UUID, after: int | None, selection: Selection
) -> AsyncIterator[LoadedEvent]:
    """Replay from `after` (None: from now), then follow the live feed.

    The feed is opened before the log is read, so an event committed meanwhile
    arrives by one path or both; sequence numbers drop the duplicates and show
    the gaps, which are read from the log.
    """
    bus = require_bus(ctx)
    sessions = ctx.database.row_sessions
    async with bus.hub.listen_conversation(conversation_id) as feed:
        latest = await latest_seq(sessions, conversation_id)
        feed.caught_up_to(latest)
        if after is not None and after > latest:
            # Would silently skip the next events: the client's cursor is not from here.
            raise BadInput(f"the cursor is ahead of this conversation's events (at {latest})")
        last = after if after is not None else latest
        try:
            if after is not None:
                async for item in read_log(ctx, conversation_id, last, None, selection):
                    last = item.seq
                    yield item
                    if selection.last(item.event):
                        return
            while True:
                got = await feed.get()
                if got is Signal.RESYNC:
                    got_up_to = None
                elif isinstance(got, Signal):
                    raise ResumeRequired(
                        "live updates stopped (the subscriber fell behind or the broadcast "
                        "backend failed); subscribe again with `after` to continue",
                        cursor=encode_cursor(conversation_id, last),
                    )
                elif got.seq <= last:
                    continue
                else:
                    got_up_to = got.seq - 1
                if got_up_to is None or got_up_to > last:
                    # Missed while disconnected, or skipped by the backend: read it from the
                    # log, once access is checked again (the selection may leave out the
                    # event that took it away).
                    await require_access(ctx, conversation_id)
                    async for item in read_log(ctx, conversation_id, last, got_up_to, selection):
                        last = item.seq
                        yield item
                        if selection.last(item.event):
                            return
                if isinstance(got, Signal):
                    continue
                if got.event.kind in ACCESS_CHANGES:
                    await require_access(ctx, conversation_id)
                # Past it only now: a failed check above resumes from before it.
                last = got.seq
                if got.event.kind == EventKind.CONVERSATION_DELETED:
                    # Nothing follows a deletion, whatever the subscriber selected.
                    yield got
                    return
                if selection.accepts(got.event):
                    yield got
                    if selection.last(got.event):
                        return
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            raise database_lost(encode_cursor(conversation_id, last)) from exc
