"""Publishing committed events, and the hub subscribers listen through."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Sequence

from broadcaster import Broadcast

from config import Settings
from resolvers.db import RowSessionFactory
from resolvers.events import Published
from resolvers.publisher import Farewell
from subscriptions.channels import REVOKED_KEYS, Notice, channels_for, conversation_channel
from subscriptions.hub import EventHub
from subscriptions.reconnecting import ReconnectingBackend

log = logging.getLogger(__name__)
RETRY_EVERY = 0.5  # seconds between attempts to announce what could not be announced
BACKLOG_LIMIT = 100_000


class EventBus:
    """The Publisher (resolvers.publisher) of a server process, and its hub."""

    def __init__(
        self,
        broadcast: Broadcast,
        sessions: RowSessionFactory,
        feed_size: int,
        recheck_seconds: float = Settings.live_recheck_seconds,
    ) -> None:
        self.broadcast = broadcast
        self.sessions = sessions
        self.hub = EventHub(broadcast, sessions, feed_size, recheck_seconds)
        # (channel, message) pairs a failed publish left; announced again, in order.
        self._backlog: deque[tuple[str, str]] = deque()
        self._retry: asyncio.Task[None] | None = None
        # One drain at a time, or two could publish (and drop) the same head notice.
        self._draining = asyncio.Lock()
        # Events announced since start (web.metrics reads it).
        self.published = 0

    @property
    def connected(self) -> bool:
        """Whether the backend's listening connection is up (the memory backend's always
        is): while it is not, other processes' events reach this one only by re-checks."""
        backend = self.broadcast._backend  # broadcaster offers no public accessor
        return not isinstance(backend, ReconnectingBackend) or backend.connected

    async def start(self) -> None:
        await self.broadcast.connect()
        await self.hub.start()

    async def stop(self) -> None:
        await self.stop_retrying()
        await self.hub.stop()
        await self.broadcast.disconnect()

    async def stop_retrying(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry

    async def publish(self, events: Sequence[Published]) -> None:
        """Announce committed events, in commit order.

        If the backend cannot take them now they wait in a backlog, announced again
        until it can: a subscriber waiting for the last event of a run (nothing after
        it would reveal a gap) still gets it once the backend is back.
        """
        self.published += len(events)
        for event in events:
            message = Notice.of(event).encode()
            self._backlog.extend((channel, message) for channel in channels_for(event))
        retrying = self._retry is not None and not self._retry.done()
        if not retrying and not await self._drain():
            log.warning(
                "broadcast unavailable, %d notice(s) wait to be announced (events are logged)",
                len(self._backlog),
            )
            self._retry = asyncio.create_task(self._keep_trying())

    async def announce_revoked_key(self, key_id: uuid.UUID) -> None:
        """Tell every server process, this one included, that a key no longer works."""
        await self.announce(REVOKED_KEYS, str(key_id))

    async def announce_deleted(self, farewell: Farewell) -> None:
        await self.announce(conversation_channel(farewell.conversation_id), farewell.encode())

    async def announce(self, channel: str, message: str) -> None:
        """Publish a message that is not an event of the log, after those waiting."""
        self._backlog.append((channel, message))
        if not await self._drain() and (self._retry is None or self._retry.done()):
            self._retry = asyncio.create_task(self._keep_trying())

    async def _drain(self) -> bool:
        """Publish the backlog in order; False if the backend refused (the rest waits)."""
        async with self._draining:
            while self._backlog:
                channel, message = self._backlog[0]
                try:
                    await self.broadcast.publish(channel, message)
                except Exception:
                    self._trim()
                    return False
                self._backlog.popleft()
        return True

    async def _keep_trying(self) -> None:
        # A retry interval, not a wait for a condition: the backend offers no event to await.
        while not await self._drain():  # noqa: ASYNC110
            await asyncio.sleep(RETRY_EVERY)
        log.info("broadcast available again; waiting notices announced")

    def _trim(self) -> None:
        # Past the limit the oldest notices go: their events are in the log, and the
        # backend's reconnect makes every subscriber re-read it.
        while len(self._backlog) > BACKLOG_LIMIT:
            self._backlog.popleft()
