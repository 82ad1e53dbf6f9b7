"""PostgreSQL LISTEN/NOTIFY: LISTEN on one asyncpg connection of our own, NOTIFY
(`SELECT pg_notify($1, $2)`) through a small pool, so publishes never wait on, or
collide with, the listening connection.

The listening connection is named `<application_name>-listen` in pg_stat_activity.
It is replaced by the supervisor in `ReconnectingBackend` when asyncpg reports it
closed (server restart, pg_terminate_backend) or a health check on it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from broadcaster import Event

from subscriptions.channels import RECONNECTED
from subscriptions.reconnecting import ReconnectingBackend, ReconnectPolicy

MAX_CHANNEL_BYTES = 63  # longer identifiers are truncated by LISTEN, refused by pg_notify
MAX_PAYLOAD_BYTES = 7999
# Errors of a pooled connection that died (with a restarted server): retried once.
STALE_CONNECTION_ERRORS = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


def asyncpg_dsn(url: str) -> str:
    """SQLAlchemy's postgresql+asyncpg:// spelling is accepted too."""
    if url.startswith("postgresql+asyncpg://"):
        return "postgresql://" + url.removeprefix("postgresql+asyncpg://")
    return url


@dataclass
class _Listener:
    conn: Any  # asyncpg.Connection
    # asyncpg runs one command at a time on a connection.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class PostgresBackend(ReconnectingBackend[_Listener]):
    kind = "postgres"

    def __init__(
        self,
        url: str,
        policy: ReconnectPolicy | None = None,
        *,
        application_name: str = "threadline",
        pool_size: int = 4,
        reconnected_channel: str = RECONNECTED,
    ) -> None:
        super().__init__(policy, reconnected_channel)
        self._dsn = asyncpg_dsn(url)
        self.application_name = application_name
        self._pool_size = pool_size
        self._pool: Any = None  # asyncpg.Pool

    def _check_channel(self, channel: str) -> None:
        if len(channel.encode()) > MAX_CHANNEL_BYTES:
            raise ValueError(f"PostgreSQL channel names are at most 63 bytes: {channel!r}")

    async def _open(self) -> _Listener:
        conn = await asyncpg.connect(
            self._dsn,
            timeout=self.policy.connect_timeout,
            server_settings={"application_name": f"{self.application_name}-listen"},
        )
        listener = _Listener(conn)
        conn.add_termination_listener(lambda _conn: listener.closed.set())
        return listener

    async def _close(self, conn: _Listener) -> None:
        with contextlib.suppress(Exception):
            conn.conn.terminate()

    async def _serve(self, conn: _Listener) -> None:
        """Wait for the connection to close; check it when it has been quiet a while."""
        interval = self.policy.health_interval
        while not conn.conn.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.closed.wait(), interval)
                break
            async with asyncio.timeout(interval), conn.lock:
                await conn.conn.execute("SELECT 1")
        raise ConnectionError("the listening connection was closed")

    async def _listen(self, conn: _Listener, channels: Collection[str]) -> None:
        async with conn.lock:
            for channel in channels:
                # Runs LISTEN (once per channel) and returns when it completed.
                await conn.conn.add_listener(channel, self._notified)

    async def _unlisten(self, conn: _Listener, channel: str) -> None:
        async with conn.lock:
            await conn.conn.remove_listener(channel, self._notified)

    def _notified(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        self._emit(Event(channel, payload))

    async def _open_publisher(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            max_size=self._pool_size,
            timeout=self.policy.connect_timeout,
            server_settings={"application_name": f"{self.application_name}-publish"},
        )

    async def _close_publisher(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.policy.connect_timeout)
            except Exception:
                pool.terminate()

    async def _publish(self, channel: str, message: str) -> None:
        if len(message.encode()) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"NOTIFY payloads must be under 8000 bytes (on {channel!r})")
        if self._pool is None:
            raise ConnectionError("the PostgreSQL backend is not connected")
        try:
            await self._pool.execute("SELECT pg_notify($1, $2)", channel, message)
        except STALE_CONNECTION_ERRORS:
            await self._pool.execute("SELECT pg_notify($1, $2)", channel, message)
