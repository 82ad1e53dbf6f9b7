"""One broadcast subscription per channel per process, fanned out to bounded local feeds.

Every WebSocket subscriber gets a `Feed`: a bounded queue filled by the channel's
single pump task, which reads each published event from the log once for all
local subscribers. A feed that overflows is closed with an error that tells the
client where to resume; it never grows without bound.

An announcement can be lost for good: a writer that commits and dies before it
publishes (SIGKILL, out of memory, a node lost) leaves events in the log that no notice
will ever name, and a subscriber would only learn of them from the conversation's next
announced event. So every `recheck_seconds` (LIVE_RECHECK_SECONDS) the hub reads, in one
query, the last sequence number of every conversation its feeds follow. An event that
was in the log at one check and is still unannounced at the next makes that
conversation's feeds re-read the log from their cursors. Waiting a whole interval, and
not deciding while the channel's pump still holds notices (it is only behind), keeps a
notice that is merely late from causing a re-read. Worst case, such an event reaches its
subscribers 2 x recheck_seconds, two checks' queries and one read of the log after its
commit: about a second at 0.5 s.

Conversation lists (ACTIVITY) are not re-checked: they have no cursor, and telling
them to refetch on a notice that is only late would disrupt every list of a busy
process. A list misses a lost announcement until its next refetch or the next activity
it hears (whose row is read fresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum

from broadcaster import Broadcast
from broadcaster._base import Subscriber

from config import Settings
from resolvers.db import RowSessionFactory, brief, is_unavailable
from resolvers.errors import ResumeRequired
from resolvers.event_log import load_events
from resolvers.events import LoadedEvent, latest_seqs
from resolvers.publisher import Farewell
from subscriptions.channels import (
    ACTIVITY,
    RECONNECTED,
    REVOKED_KEYS,
    Notice,
    conversation_channel,
)

log = logging.getLogger(__name__)
SUBSCRIBE_TIMEOUT = 10.0
BATCH = 500  # notices read from the log in one query, and events handed out at once
MAX_QUEUED = 10_000  # beyond this, subscribers re-read the log instead
# Past every sequence number: where a deleted conversation's log ends.
GONE = 2**31


class Signal(Enum):
    """Not an event: something the subscriber must act on."""

    RESYNC = "resync"  # the backend reconnected: read the log for what may be missed
    OVERFLOW = "overflow"  # the subscriber fell behind and its queue was dropped
    FAILED = "failed"  # the channel's broadcast subscription broke


class Feed:
    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[LoadedEvent | Signal] = asyncio.Queue(size)
        self._closed: Signal | None = None
        # Where the subscriber's stream found the log's end after this feed opened.
        self.caught_up: int | None = None

    def caught_up_to(self, seq: int) -> None:
        """Report the log's end read after opening: the hub re-checks from there."""
        self.caught_up = seq

    def offer(self, item: LoadedEvent | Signal) -> None:
        """Queue without waiting; a full queue is emptied and the feed closed."""
        if self._closed is not None:
            return
        if item in (Signal.OVERFLOW, Signal.FAILED):
            self._close(item)
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._close(Signal.OVERFLOW)

    def _close(self, reason: Signal) -> None:
        self._closed = reason
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(reason)

    async def get(self) -> LoadedEvent | Signal:
        return await self._queue.get()

    @property
    def pending(self) -> int:
        return self._queue.qsize()


@dataclass
class _Channel:
    feeds: set[Feed]
    ready: asyncio.Event
    task: asyncio.Task[None] | None = None
    # A conversation's channel, whose log the hub re-checks: the highest sequence number
    # announced (or re-read by every feed on the hub's word), and the log's end at the
    # previous check.
    conversation_id: uuid.UUID | None = None
    announced: int = 0
    observed: int | None = None
    # The pump's broadcast subscription, and whether it is handing a batch out: notices
    # it holds are not lost, only late.
    subscriber: Subscriber | None = None
    delivering: bool = False

    @property
    def in_flight(self) -> bool:
        queued = self.subscriber is not None and not self.subscriber._queue.empty()
        return self.delivering or queued

    @property
    def seen(self) -> int | None:
        """The highest sequence number every feed is sure to learn of, None until a
        feed's stream read the log's end. A notice reaches every feed (which reads any
        gap below it from the log); a feed that joined later did not hear the earlier
        notices, but read the log up to where it caught up."""
        reported = [feed.caught_up for feed in self.feeds if feed.caught_up is not None]
        return max(min(reported), self.announced) if reported else None


class EventHub:
    def __init__(
        self,
        broadcast: Broadcast,
        sessions: RowSessionFactory,
        feed_size: int,
        recheck_seconds: float = Settings.live_recheck_seconds,
    ) -> None:
        self.broadcast = broadcast
        self.sessions = sessions
        self.feed_size = feed_size
        self.recheck_seconds = recheck_seconds
        self._channels: dict[str, _Channel] = {}
        self._resync_task: asyncio.Task[None] | None = None
        self._revocations: asyncio.Task[None] | None = None
        self._rechecks: asyncio.Task[None] | None = None
        # API keys revoked while this process runs: their subscriptions end at the next
        # event (and a new subscription checks the key in the database anyway).
        self.revoked_keys: set[uuid.UUID] = set()
        # Events handed to feeds, one per feed (web.metrics reads it).
        self.delivered = 0

    async def start(self) -> None:
        self._resync_task = asyncio.create_task(self._pump(RECONNECTED, asyncio.Event()))
        revocations_ready = asyncio.Event()
        self._revocations = asyncio.create_task(self._pump(REVOKED_KEYS, revocations_ready))
        await revocations_ready.wait()
        if self.recheck_seconds > 0:
            self._rechecks = asyncio.create_task(self._recheck_forever())

    async def stop(self) -> None:
        tasks = [c.task for c in self._channels.values()]
        tasks += [self._resync_task, self._revocations, self._rechecks]
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._channels.clear()

    def listen_conversation(
        self, conversation_id: uuid.UUID
    ) -> contextlib.AbstractAsyncContextManager[Feed]:
        """A feed of the conversation's events, whose log the hub re-checks (see above)."""
        return self.listen(conversation_channel(conversation_id), conversation_id)

    @contextlib.asynccontextmanager
    async def listen(
        self, channel: str, conversation_id: uuid.UUID | None = None
    ) -> AsyncIterator[Feed]:
        """A feed of the channel's events, live from when this returns."""
        entry = self._channels.get(channel)
        if entry is None:
            entry = _Channel(feeds=set(), ready=asyncio.Event(), conversation_id=conversation_id)
            self._channels[channel] = entry
            entry.task = asyncio.create_task(self._pump(channel, entry.ready))
        feed = Feed(self.feed_size)
        entry.feeds.add(feed)
        try:
            try:
                await asyncio.wait_for(entry.ready.wait(), SUBSCRIBE_TIMEOUT)
            except TimeoutError:
                raise ResumeRequired("live updates are unavailable right now; retry") from None
            yield feed
        finally:
            entry.feeds.discard(feed)
            if not entry.feeds and self._channels.get(channel) is entry:
                del self._channels[channel]
                if entry.task is not None:
                    entry.task.cancel()

    async def _pump(self, channel: str, ready: asyncio.Event) -> None:
        try:
            async with self.broadcast.subscribe(channel) as subscriber:
                entry = self._channels.get(channel)
                if entry is not None:
                    entry.subscriber = subscriber
                ready.set()
                while True:
                    messages = await _next_batch(subscriber)
                    if messages is None:
                        self._resync(channel)
                        continue
                    try:
                        if entry is not None:
                            entry.delivering = True
                        await self._deliver(channel, messages)
                    except Exception as exc:
                        # One bad notice or a passing database error must not end the
                        # channel: subscribers re-read the log from their cursors instead.
                        if is_unavailable(exc):
                            log.warning("could not read a notice's event: %s", brief(exc))
                        else:
                            log.exception("could not deliver a notice on %s", channel)
                        self._resync(channel)
                    finally:
                        if entry is not None:
                            entry.delivering = False
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("broadcast subscription to %s failed", channel)
            self._fail(channel)
            ready.set()  # a listener waiting for this channel gets the failure at once

    async def _deliver(self, channel: str, messages: list[str]) -> None:
        if channel == REVOKED_KEYS:
            self.revoked_keys.update(uuid.UUID(message) for message in messages)
            return
        if channel == RECONNECTED:
            for listened in list(self._channels.values()):
                for feed in list(listened.feeds):
                    feed.offer(Signal.RESYNC)
            return
        entry = self._channels.get(channel)
        if entry is None or not entry.feeds:
            return
        farewells = [Farewell.decode(message) for message in messages]
        notices = [
            Notice.decode(message)
            for message, farewell in zip(messages, farewells, strict=True)
            if farewell is None
        ]
        # Announced, even if loading them fails below: the feeds re-read the log then.
        deleted = [GONE for farewell in farewells if farewell is not None]
        entry.announced = max([entry.announced, *(notice.seq for notice in notices), *deleted])
        ids = [notice.event_id for notice in notices]
        # One read for all the notices that queued up while the last batch was read, its
        # events handed out BATCH at a time (a row may hold thousands): subscribers take
        # them in while the next are read. Live lists check each event's visibility
        # against its conversation's members.
        if ids:
            reads = load_events(self.sessions, ids, BATCH, with_members=channel == ACTIVITY)
            async with contextlib.aclosing(reads):
                async for loaded in reads:
                    self.delivered += _offer(entry, loaded)
        # A deleted conversation's last event is in its notice: nothing follows it.
        farewell_events = [farewell.loaded() for farewell in farewells if farewell is not None]
        self.delivered += _offer(entry, farewell_events)

    async def _recheck_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.recheck_seconds)
            try:
                await self._recheck()
            except Exception as exc:
                if not is_unavailable(exc):
                    log.exception("checking the event log for unannounced events failed")
                elif not failing:
                    # A database outage: one warning for all of it, not one per check.
                    log.warning("cannot check the event log for unannounced events: %s", brief(exc))
                failing = True
            else:
                if failing:
                    log.info("checking the event log for unannounced events again")
                failing = False

    async def _recheck(self) -> None:
        """Make the feeds of conversations with an event unannounced since the last check
        re-read the log."""
        tracked = {
            entry.conversation_id: entry
            for entry in self._channels.values()
            if entry.conversation_id is not None and entry.seen is not None
        }
        if not tracked:
            return
        ends = await latest_seqs(self.sessions, tracked.keys())
        for conversation_id, entry in tracked.items():
            end = ends.get(conversation_id, GONE)
            seen = entry.seen
            if seen is None:
                continue
            if entry.observed is not None and entry.observed > seen and not entry.in_flight:
                # Committed, and still unannounced a check later: its writer is gone.
                # (A deleted conversation's feeds re-check access, and their streams end.)
                entry.announced = max(entry.announced, end)
                for feed in list(entry.feeds):
                    feed.offer(Signal.RESYNC)
            entry.observed = end

    def _resync(self, channel: str) -> None:
        entry = self._channels.get(channel)
        for feed in list(entry.feeds) if entry else []:
            feed.offer(Signal.RESYNC)

    def _fail(self, channel: str) -> None:
        failed = self._channels.pop(channel, None)
        if failed is not None:
            for feed in list(failed.feeds):
                feed.offer(Signal.FAILED)


def _offer(entry: _Channel, loaded: list[LoadedEvent]) -> int:
    """Offer each event to every feed; how many offers that made."""
    feeds = list(entry.feeds)
    for item in loaded:
        for feed in feeds:
            feed.offer(item)
    return len(loaded) * len(feeds)


async def _next_batch(subscriber: Subscriber) -> list[str] | None:
    """The next notice and those queued behind it (at most BATCH), or None when so many
    queued up that reading the log again is cheaper (which keeps memory bounded)."""
    first = await subscriber.get()
    # broadcaster's Subscriber offers no batch read; its queue is unbounded, so it is
    # emptied here rather than left to grow while the database is slow.
    queue = subscriber._queue
    if queue.qsize() > MAX_QUEUED:
        while not queue.empty():
            queue.get_nowait()
        return None
    messages = [first.message]
    while len(messages) < BATCH and not queue.empty():
        item = queue.get_nowait()
        if item is None:  # unsubscribed: deliver what came before
            break
        messages.append(item.message)
    return messages
