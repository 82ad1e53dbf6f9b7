"""Broadcast backends by URL: memory://, redis:// (rediss://), postgres:// (postgresql://).

broadcaster 0.3.1's own Redis and PostgreSQL backends can miss or refuse messages (its
Redis backend delivers nothing with redis-py >= 8 and never reconnects; its PostgreSQL
backend LISTENs and publishes on one connection, so concurrent publishes fail), so Redis
and PostgreSQL use backends of ours, built on `ReconnectingBackend` (reconnecting.py;
imported only when its URL asks for one, and never importing this module): one listening
connection per process, publishing on other connections, and a supervisor that notices a
dropped listening connection, reconnects with capped backoff, subscribes every channel
again and then emits an `Event(RECONNECTED)`, on which the hub tells every subscriber to
re-read the event log.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from broadcaster import Broadcast
from broadcaster._backends.memory import MemoryBackend

POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")


def create_broadcast(url: str) -> Broadcast:
    """A Broadcast for BROADCAST_URL; an asyncpg-style URL is accepted for PostgreSQL."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return Broadcast(backend=MemoryBackend(url))
    if scheme in ("redis", "rediss"):
        from subscriptions.redis_backend import RedisBackend

        return Broadcast(backend=RedisBackend(url))
    if scheme in POSTGRES_SCHEMES:
        from subscriptions.postgres_backend import PostgresBackend

        return Broadcast(backend=PostgresBackend(url))
    raise ValueError(
        f"unsupported broadcast URL scheme {scheme!r}: "
        "use memory://, redis://, rediss:// or postgresql://"
    )
