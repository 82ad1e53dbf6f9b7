"""One broadcast subscription per channel per process, fanned out to bounded local feeds.

Every WebSocket subscriber gets a `Feed`: a bounded queue filled by the channel's
single pump task, which reads each published event from the log once for all
local subscribers. A feed that overflows is closed with an error that tells the
client where to resume; it never grows without bound.
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
from sqlmodel import col

from models import Event
from resolvers.db import RowSessionFactory
from resolvers.errors import ResumeRequired
from resolvers.events import LoadedEvent, load_events
from resolvers.publisher import Farewell
from subscriptions.channels import ACTIVITY, RECONNECTED, REVOKED_KEYS, Notice

log = logging.getLogger(__name__)
SUBSCRIBE_TIMEOUT = 10.0
BATCH = 500  # notices read from the log in one query
MAX_QUEUED = 10_000  # beyond this, subscribers re-read the log instead


class Signal(Enum):
    """Not an event: something the subscriber must act on."""

    RESYNC = "resync"  # the backend reconnected: read the log for what may be missed
    OVERFLOW = "overflow"  # the subscriber fell behind and its queue was dropped
    FAILED = "failed"  # the channel's broadcast subscription broke


class Feed:
    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[LoadedEvent | Signal] = asyncio.Queue(size)
        self._closed: Signal | None = None

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


class EventHub:
    def __init__(self, broadcast: Broadcast, sessions: RowSessionFactory, feed_size: int) -> None:
        self.broadcast = broadcast
        self.sessions = sessions
        self.feed_size = feed_size
        self._channels: dict[str, _Channel] = {}
        self._resync_task: asyncio.Task[None] | None = None
        self._revocations: asyncio.Task[None] | None = None
        # API keys revoked while this process runs: their subscriptions end at the next
        # event (and a new subscription checks the key in the database anyway).
        self.revoked_keys: set[uuid.UUID] = set()

    async def start(self) -> None:
        self._resync_task = asyncio.create_task(self._pump(RECONNECTED, asyncio.Event()))
        revocations_ready = asyncio.Event()
        self._revocations = asyncio.create_task(self._pump(REVOKED_KEYS, revocations_ready))
        await revocations_ready.wait()

    async def stop(self) -> None:
        tasks = [c.task for c in self._channels.values()]
        tasks += [self._resync_task, self._revocations]
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._channels.clear()

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[Feed]:
        """A feed of the channel's events, live from when this returns."""
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = _Channel(feeds=set(), ready=asyncio.Event())
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
                ready.set()
                while True:
                    messages = await _next_batch(subscriber)
                    if messages is None:
                        self._resync(channel)
                        continue
                    try:
                        await self._deliver(channel, messages)
                    except Exception:
                        # One bad notice or a passing database error must not end the
                        # channel: subscribers re-read the log from their cursors instead.
                        log.exception("could not deliver a notice on %s", channel)
                        self._resync(channel)
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
        ids = [
            Notice.decode(message).event_id
            for message, farewell in zip(messages, farewells, strict=True)
            if farewell is None
        ]
        # One read for all the notices that queued up while the last batch was read.
        # Live lists check each event's visibility against its conversation's members.
        loaded = []
        if ids:
            loaded = await load_events(
                self.sessions, [col(Event.id).in_(ids)], with_members=channel == ACTIVITY
            )
        # A deleted conversation's last event is in its notice: nothing follows it.
        loaded += [farewell.loaded() for farewell in farewells if farewell is not None]
        for item in loaded:
            for feed in list(entry.feeds):
                feed.offer(item)

    def _resync(self, channel: str) -> None:
        entry = self._channels.get(channel)
        for feed in list(entry.feeds) if entry else []:
            feed.offer(Signal.RESYNC)

    def _fail(self, channel: str) -> None:
        failed = self._channels.pop(channel, None)
        if failed is not None:
            for feed in list(failed.feeds):
                feed.offer(Signal.FAILED)


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
