"""The base of our broadcast backends (redis_backend.py, postgres_backend.py): a listening
connection that is replaced when it drops, its channels subscribed again, and an
`Event(RECONNECTED)` emitted once they are, on which the hub tells every subscriber to
re-read the event log. Each backend depends on this module only; backends.py picks one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from broadcaster import BroadcastBackend, Event

from subscriptions.channels import RECONNECTED

log = logging.getLogger(__name__)
C = TypeVar("C")


def _why(reason: object) -> str:
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
    return str(reason)


@dataclass(frozen=True)
class ReconnectPolicy:
    first_delay: float = 0.1  # before the first reconnect attempt; doubles up to max_delay
    max_delay: float = 5.0
    connect_timeout: float = 5.0
    subscribe_timeout: float = 5.0  # below the hub's SUBSCRIBE_TIMEOUT, for a clear error
    publish_timeout: float = 5.0
    # The listening connection is checked after this long without traffic, and
    # given up after twice as long without a reply.
    health_interval: float = 5.0
    queue_size: int = 10_000  # received, not yet taken; an overflow becomes a resync


class ReconnectingBackend(BroadcastBackend, ABC, Generic[C]):
    """Channels subscribed on one listening connection `C`, which is replaced when it drops.

    Subclasses open connections and (un)subscribe on them; this class keeps the channels
    (counted, so interleaved subscribe/unsubscribe calls stay balanced), subscribes them
    again on every new connection, and emits `Event(reconnected_channel, "")` once they
    are active. That channel is local: it is never subscribed on the server.
    """

    kind = "broadcast"

    def __init__(
        self, policy: ReconnectPolicy | None = None, reconnected_channel: str = RECONNECTED
    ) -> None:
        # BroadcastBackend.__init__ only raises NotImplementedError: not called.
        self.policy = policy or ReconnectPolicy()
        self.reconnected_channel = reconnected_channel
        self.reconnects = 0
        self._channels: Counter[str] = Counter()
        self._queue: asyncio.Queue[Event] = asyncio.Queue(self.policy.queue_size)
        self._overflowed = False
        self._ready = asyncio.Event()  # set while `_listener` is up with every channel
        self._listener: C | None = None
        self._supervisor: asyncio.Task[None] | None = None

    # What a backend provides.

    @abstractmethod
    async def _open(self) -> C:
        """A new listening connection; raises if the server cannot be reached."""

    @abstractmethod
    async def _serve(self, conn: C) -> None:
        """Run the connection (read it, check its health) until it is lost: return or raise."""

    @abstractmethod
    async def _listen(self, conn: C, channels: Collection[str]) -> None:
        """Subscribe on `conn`; return once the server has made the channels active."""

    @abstractmethod
    async def _unlisten(self, conn: C, channel: str) -> None: ...

    @abstractmethod
    async def _close(self, conn: C) -> None:
        """Close at once, without waiting on the server; never raises. Ends `_serve`."""

    @abstractmethod
    async def _open_publisher(self) -> None: ...

    @abstractmethod
    async def _close_publisher(self) -> None: ...

    @abstractmethod
    async def _publish(self, channel: str, message: str) -> None: ...

    def _check_channel(self, channel: str) -> None:
        """Raise ValueError for a channel name the server would not accept."""

    # The BroadcastBackend interface.

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def connect(self) -> None:
        """Fails (rather than retrying) when the server cannot be reached at start-up."""
        try:
            await self._open_publisher()
            conn = await asyncio.wait_for(self._open(), self.policy.connect_timeout)
            self._supervisor = asyncio.create_task(self._supervise(conn))
            await asyncio.wait_for(self._ready.wait(), self.policy.connect_timeout)
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._close_publisher()

    async def subscribe(self, channel: str) -> None:
        """Returns once the channel is active on the server (raises ConnectionError
        if that takes longer than `subscribe_timeout`, e.g. while the server is down)."""
        if channel == self.reconnected_channel:
            return
        self._check_channel(channel)
        self._channels[channel] += 1
        try:
            async with asyncio.timeout(self.policy.subscribe_timeout):
                while True:
                    await self._ready.wait()
                    conn = self._listener
                    assert conn is not None
                    try:
                        await self._listen(conn, [channel])
                        return
                    except Exception as exc:
                        log.info("%s: subscribing to %s failed: %s", self.kind, channel, _why(exc))
                        await self._drop(conn)
        except BaseException as exc:
            # Given up (or cancelled): undo what may have reached the server, in order
            # with any later subscribe to the channel.
            conn = self._listener
            if self._release(channel) and conn is not None:
                with contextlib.suppress(Exception):
                    await self._unlisten(conn, channel)
            if isinstance(exc, TimeoutError):
                raise ConnectionError(
                    f"{self.kind}: could not subscribe to {channel!r} within "
                    f"{self.policy.subscribe_timeout}s (is the server reachable?)"
                ) from None
            raise

    async def unsubscribe(self, channel: str) -> None:
        if channel == self.reconnected_channel or not self._release(channel):
            return
        conn = self._listener
        if conn is not None:
            try:
                await self._unlisten(conn, channel)
            except Exception as exc:
                log.info("%s: unsubscribing from %s failed: %s", self.kind, channel, _why(exc))
                await self._drop(conn)

    async def publish(self, channel: str, message: Any) -> None:
        """Raises (within about `publish_timeout`) when the server cannot be reached."""
        self._check_channel(channel)
        async with asyncio.timeout(self.policy.publish_timeout):
            await self._publish(channel, str(message))

    async def next_published(self) -> Event:
        if self._overflowed:
            self._overflowed = False
            return Event(self.reconnected_channel, "")
        return await self._queue.get()

    # The machinery.

    def _emit(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            # Nobody is taking events: drop them, and have subscribers re-read the log.
            self._overflowed = True

    def _release(self, channel: str) -> bool:
        """Count one subscription less; True when it was the last one."""
        if self._channels[channel] <= 1:
            return self._channels.pop(channel, 0) == 1
        self._channels[channel] -= 1
        return False

    async def _drop(self, conn: C) -> None:
        """Give up a connection that failed; the supervisor opens another one."""
        if self._listener is conn:
            self._ready.clear()
            self._listener = None
        await self._close(conn)

    async def _supervise(self, conn: C) -> None:
        reconnected = False
        while True:
            try:
                await self._session(conn, reconnected)
                reason: object = "connection closed"
            except Exception as exc:
                reason = exc
            finally:
                self._ready.clear()
                self._listener = None
                await self._close(conn)
            log.warning("%s: listening connection lost (%s); reconnecting", self.kind, _why(reason))
            conn = await self._reconnect()
            reconnected = True

    async def _session(self, conn: C, reconnected: bool) -> None:
        serving = asyncio.create_task(self._serve(conn))
        try:
            channels = set(self._channels)
            if channels:
                await asyncio.wait_for(self._listen(conn, channels), self.policy.subscribe_timeout)
            if serving.done():  # lost while subscribing: the reason is in its result
                serving.result()
                return
            self._listener = conn
            self._ready.set()
            for channel in channels - set(self._channels):  # unsubscribed meanwhile
                await self._unlisten(conn, channel)
            if reconnected:
                self.reconnects += 1
                log.warning("%s: reconnected; %d channels subscribed", self.kind, len(channels))
                self._emit(Event(self.reconnected_channel, ""))
            await serving
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await serving

    async def _reconnect(self) -> C:
        delay = self.policy.first_delay
        attempt = 0
        while True:
            await asyncio.sleep(delay)
            attempt += 1
            try:
                return await asyncio.wait_for(self._open(), self.policy.connect_timeout)
            except Exception as exc:
                delay = min(delay * 2, self.policy.max_delay)
                # Loud at first, then about once a minute once the delay is at its cap.
                level = logging.WARNING if attempt == 1 or attempt % 12 == 0 else logging.INFO
                log.log(
                    level,
                    "%s: reconnect attempt %d failed (%s); next in %.1fs",
                    self.kind,
                    attempt,
                    _why(exc),
                    delay,
                )
