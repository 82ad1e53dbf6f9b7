"""Redis pub/sub: SUBSCRIBE on one connection of our own, PUBLISH through a client pool.

Unlike broadcaster's backend this reads the subscription connection itself, so a
subscription counts as active only once Redis confirmed it, whatever the redis-py
version; and a lost connection (Redis restarted, or silent past `health_interval`)
is replaced by the supervisor in `ReconnectingBackend`, not hidden by redis-py retries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from broadcaster import Event
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from subscriptions.channels import RECONNECTED
from subscriptions.reconnecting import ReconnectingBackend, ReconnectPolicy


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass
class _Listener:
    conn: AbstractConnection
    last_seen: float
    # Commands reach Redis in the order they were asked for.
    write: asyncio.Lock = field(default_factory=asyncio.Lock)
    # One future per channel of each SUBSCRIBE sent, resolved by Redis' confirmations,
    # which come in the same order.
    confirmations: dict[str, deque[asyncio.Future[None]]] = field(default_factory=dict)


class RedisBackend(ReconnectingBackend[_Listener]):
    kind = "redis"

    def __init__(
        self,
        url: str,
        policy: ReconnectPolicy | None = None,
        *,
        client_name: str = "threadline",
        reconnected_channel: str = RECONNECTED,
    ) -> None:
        super().__init__(policy, reconnected_channel)
        self._url = url
        pool = ConnectionPool.from_url(url)  # parses the URL (host, auth, TLS); opens nothing
        options = dict(pool.connection_kwargs)
        # redis-py 8 adds "maintenance notifications", which need RESP3: not on the listener.
        options.pop("maint_notifications_config", None)
        options.pop("maint_notifications_pool_handler", None)
        connect_timeout = options.get("socket_connect_timeout") or self.policy.connect_timeout
        self._connection_class = pool.connection_class
        self._listener_options: dict[str, Any] = {
            **options,
            # The supervisor reconnects and re-subscribes; redis-py must not retry behind it.
            "retry": Retry(NoBackoff(), 0),
            "protocol": 2,  # subscription messages arrive as ordinary replies
            "socket_timeout": None,  # idle is normal; `_watch` checks the connection
            "socket_connect_timeout": connect_timeout,
            "health_check_interval": 0,
            "client_name": f"{client_name}-listen",
        }
        self._publisher_options: dict[str, Any] = {
            # One retry, at once: a pooled connection may have died with a restarted Redis.
            "retry": Retry(NoBackoff(), 1),
            "socket_connect_timeout": connect_timeout,
            "socket_timeout": self.policy.publish_timeout,
            "client_name": f"{client_name}-publish",
        }
        self._publisher: Redis | None = None

    async def _open(self) -> _Listener:
        conn = self._connection_class(**self._listener_options)
        try:
            await conn.connect()
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)
            raise
        return _Listener(conn, asyncio.get_running_loop().time())

    async def _close(self, conn: _Listener) -> None:
        with contextlib.suppress(Exception):
            await conn.conn.disconnect(nowait=True)

    async def _serve(self, conn: _Listener) -> None:
        tasks = (asyncio.create_task(self._read(conn)), asyncio.create_task(self._watch(conn)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            lost = RedisConnectionError("the listening connection was lost")
            for waiting in conn.confirmations.values():
                for future in waiting:
                    if not future.done():
                        future.set_exception(lost)
            conn.confirmations.clear()

    async def _read(self, conn: _Listener) -> None:
        loop = asyncio.get_running_loop()
        while True:
            reply = await conn.conn.read_response()
            conn.last_seen = loop.time()
            if not isinstance(reply, list) or len(reply) < 2:
                continue
            kind, channel = _text(reply[0]), _text(reply[1])
            if kind == "message" and len(reply) == 3:
                self._emit(Event(channel, _text(reply[2])))
            elif kind == "subscribe":
                waiting = conn.confirmations.get(channel)
                if waiting:
                    future = waiting.popleft()
                    if not future.done():  # its subscriber may have given up
                        future.set_result(None)
                    if not waiting:
                        del conn.confirmations[channel]

    async def _watch(self, conn: _Listener) -> None:
        """PING a quiet connection; give it up when nothing came back for too long."""
        interval = self.policy.health_interval
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval / 2)
            idle = loop.time() - conn.last_seen
            if idle >= 2 * interval:
                raise RedisConnectionError(f"no reply from Redis for {idle:.1f}s")
            if idle >= interval:
                async with asyncio.timeout(interval):
                    await self._send(conn, "PING")

    async def _send(self, conn: _Listener, *command: str) -> None:
        async with conn.write:
            # redis-py would silently open a fresh, unread connection: refuse instead.
            if not conn.conn.is_connected:
                raise RedisConnectionError("the listening connection is closed")
            await conn.conn.send_command(*command, check_health=False)

    async def _listen(self, conn: _Listener, channels: Collection[str]) -> None:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        async with conn.write:
            for channel in channels:
                futures.append(loop.create_future())
                conn.confirmations.setdefault(channel, deque()).append(futures[-1])
            try:
                if not conn.conn.is_connected:
                    raise RedisConnectionError("the listening connection is closed")
                await conn.conn.send_command("SUBSCRIBE", *channels, check_health=False)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        try:
            await asyncio.wait(futures)
        finally:
            for future in futures:
                future.cancel()  # no-op for those done; frees the rest if we were cancelled
        errors = [f.exception() for f in futures if not f.cancelled()]  # each one retrieved
        for error in errors:
            if error is not None:
                raise RedisConnectionError(f"could not subscribe: {error!r}") from error

    async def _unlisten(self, conn: _Listener, channel: str) -> None:
        await self._send(conn, "UNSUBSCRIBE", channel)

    async def _open_publisher(self) -> None:
        self._publisher = Redis.from_url(self._url, **self._publisher_options)
        await self._publisher.execute_command("PING")  # fail at start-up, not later

    async def _close_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):
                await publisher.aclose()

    async def _publish(self, channel: str, message: str) -> None:
        if self._publisher is None:
            raise RedisConnectionError("the Redis backend is not connected")
        await self._publisher.publish(channel, message)
