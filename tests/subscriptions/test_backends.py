"""Our broadcast backends against real servers: delivery, concurrency, reconnects.

Redis tests run when TEST_BROADCAST_URL is a redis:// URL (restart tests start a
redis-server of their own); PostgreSQL tests run when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from broadcaster import Broadcast, BroadcastBackend, Event
from broadcaster._backends.memory import MemoryBackend
from broadcaster._base import Subscriber
from redis.exceptions import ConnectionError as RedisConnectionError

from models import Event as Event_
from models.enums import EventKind
from subscriptions.backends import create_broadcast
from subscriptions.bus import EventBus
from subscriptions.channels import RECONNECTED, Notice, conversation_channel
from subscriptions.postgres_backend import PostgresBackend
from subscriptions.reconnecting import ReconnectPolicy
from subscriptions.redis_backend import RedisBackend
from tests.databases import terminate_connections
from tests.subscriptions.processes import (
    REDIS_SERVER,
    RedisServer,
    free_port,
    redis_server,
)

_broadcast_url = os.environ.get("TEST_BROADCAST_URL", "")
REDIS_URL = _broadcast_url if _broadcast_url.startswith(("redis://", "rediss://")) else None
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
FAST = ReconnectPolicy(
    first_delay=0.05,
    max_delay=0.5,
    connect_timeout=2.0,
    subscribe_timeout=2.0,
    publish_timeout=2.0,
    health_interval=1.0,
)
WAIT = 10.0  # for what must happen, however loaded the machine

needs_redis = pytest.mark.skipif(REDIS_URL is None, reason="TEST_BROADCAST_URL is not redis://")
needs_redis_server = pytest.mark.skipif(
    REDIS_URL is None or REDIS_SERVER is None, reason="needs TEST_BROADCAST_URL and redis-server"
)
needs_postgres = pytest.mark.skipif(POSTGRES_URL is None, reason="TEST_DATABASE_URL is not set")


def channel() -> str:
    return f"threadline:test:{uuid.uuid4().hex}"


def app_name() -> str:
    return f"tl-test-{uuid.uuid4().hex[:8]}"


def make_backend(kind: str, url: str | None = None) -> BroadcastBackend:
    if kind == "memory":
        return MemoryBackend("memory://")
    if kind == "redis":
        return RedisBackend(url or REDIS_URL or "", FAST)
    return PostgresBackend(url or POSTGRES_URL or "", FAST, application_name=app_name())


@asynccontextmanager
async def connected(backend: BroadcastBackend) -> AsyncIterator[Broadcast]:
    broadcast = Broadcast(backend=backend)
    await broadcast.connect()
    try:
        yield broadcast
    finally:
        await broadcast.disconnect()


async def receive(subscriber: Subscriber) -> Event:
    return await asyncio.wait_for(subscriber.get(), WAIT)


async def nothing_on(subscriber: Subscriber, wait: float = 0.2) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(subscriber.get(), wait)


KINDS = [
    "memory",
    pytest.param("redis", marks=needs_redis),
    pytest.param("postgres", marks=needs_postgres),
]
REMOTE = KINDS[1:]


def test_urls_choose_backends() -> None:
    def backend(url: str) -> object:
        return create_broadcast(url)._backend

    assert isinstance(backend("memory://"), MemoryBackend)
    assert isinstance(backend("redis://127.0.0.1:6379/0"), RedisBackend)
    assert isinstance(backend("rediss://user:secret@redis.example:6380/1"), RedisBackend)
    for url in ("postgres://h/db", "postgresql://h/db", "postgresql+asyncpg://u@h:5432/db"):
        chosen = backend(url)
        assert isinstance(chosen, PostgresBackend)
        assert chosen._dsn.startswith(("postgres://", "postgresql://"))
    with pytest.raises(ValueError, match="unsupported"):
        create_broadcast("kafka://127.0.0.1:9092")


@pytest.mark.parametrize("kind", KINDS)
async def test_round_trip(kind: str) -> None:
    name = channel()
    async with connected(make_backend(kind)) as broadcast, broadcast.subscribe(name) as sub:
        # Active as soon as subscribe() returned: no sleep before publishing.
        await broadcast.publish(name, '{"id": 1}')
        assert await receive(sub) == Event(name, '{"id": 1}')
        await broadcast.publish(channel(), "elsewhere")
        await nothing_on(sub)


@pytest.mark.parametrize("kind", REMOTE)
async def test_concurrent_publishes_all_arrive(kind: str) -> None:
    name = channel()
    async with connected(make_backend(kind)) as broadcast, broadcast.subscribe(name) as sub:
        await asyncio.gather(*(broadcast.publish(name, str(n)) for n in range(50)))
        got = [(await receive(sub)).message for _ in range(50)]
        assert sorted(got, key=int) == [str(n) for n in range(50)]
        await nothing_on(sub)


@pytest.mark.parametrize("kind", REMOTE)
async def test_interleaved_unsubscribe_and_subscribe_stay_subscribed(kind: str) -> None:
    """A channel's last subscriber leaving while a new one arrives (the hub's pumps do this)."""
    backend = make_backend(kind)
    name = channel()
    await backend.connect()
    try:
        await backend.subscribe(name)
        await asyncio.gather(backend.unsubscribe(name), backend.subscribe(name))
        await backend.publish(name, "still here")
        assert await asyncio.wait_for(backend.next_published(), WAIT) == Event(name, "still here")
        await backend.unsubscribe(name)
        await backend.publish(name, "gone")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(backend.next_published(), 0.2)
    finally:
        await backend.disconnect()


@pytest.mark.parametrize("kind", REMOTE)
async def test_connecting_to_nothing_fails_fast(kind: str) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0" if kind == "redis" else f"postgresql://u@127.0.0.1:{port}/x"
    started = time.monotonic()
    with pytest.raises((OSError, RedisConnectionError)):
        await make_backend(kind, url).connect()
    assert time.monotonic() - started < 1.0


# Redis: a server of our own, killed and started again on the same port.


@asynccontextmanager
async def redis_listening(
    server: RedisServer, policy: ReconnectPolicy = FAST
) -> AsyncIterator[tuple[Broadcast, RedisBackend, Subscriber, Subscriber, str]]:
    """Connected to `server`, subscribed to a channel and to RECONNECTED."""
    backend = RedisBackend(server.url, policy)
    name = channel()
    async with AsyncExitStack() as stack:
        broadcast = await stack.enter_async_context(connected(backend))
        resync = await stack.enter_async_context(broadcast.subscribe(RECONNECTED))
        sub = await stack.enter_async_context(broadcast.subscribe(name))
        await broadcast.publish(name, "before")
        assert (await receive(sub)).message == "before"
        yield broadcast, backend, sub, resync, name


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@needs_redis_server
async def test_redis_restart_reconnects_and_resyncs(tmp_path: Path) -> None:
    async with redis_server(tmp_path) as server, redis_listening(server) as listening:
        broadcast, backend, sub, resync, name = listening
        await server.kill()
        await until(lambda: not backend.connected)
        started = time.monotonic()
        with pytest.raises(RedisConnectionError):
            await broadcast.publish(name, "lost")  # the bus logs it; the event log has it
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.5)  # down for a while: reconnect attempts fail and back off

        await server.start()
        assert await receive(resync) == Event(RECONNECTED, "")
        assert backend.connected
        assert backend.reconnects == 1
        await broadcast.publish(name, "after")
        assert (await receive(sub)).message == "after"
        await nothing_on(sub)


@needs_redis_server
async def test_redis_subscribe_waits_for_the_server_or_fails(tmp_path: Path) -> None:
    policy = ReconnectPolicy(first_delay=0.05, max_delay=0.5, subscribe_timeout=0.5)
    async with redis_server(tmp_path) as server, redis_listening(server, policy) as listening:
        _broadcast, backend, _sub, resync, _name = listening
        await server.kill()
        await until(lambda: not backend.connected)
        late = channel()
        with pytest.raises(ConnectionError, match="could not subscribe"):
            await backend.subscribe(late)  # nothing to subscribe on within subscribe_timeout
        assert late not in backend._channels

        # A subscription that the restarted server confirms in time.
        pending = asyncio.create_task(backend.subscribe(late))
        await asyncio.sleep(0.1)
        assert not pending.done()
        await server.start()
        await asyncio.wait_for(pending, WAIT)
        assert await receive(resync) == Event(RECONNECTED, "")
        await backend.publish(late, "late")
        assert await asyncio.wait_for(backend.next_published(), WAIT) == Event(late, "late")
        await backend.unsubscribe(late)


@needs_redis_server
async def test_redis_silent_connection_is_replaced(tmp_path: Path) -> None:
    """Redis stops answering (CLIENT PAUSE) without closing: the health check notices."""
    policy = ReconnectPolicy(
        first_delay=0.05, max_delay=0.2, connect_timeout=0.5, health_interval=0.2
    )
    async with redis_server(tmp_path) as server, redis_listening(server, policy) as listening:
        broadcast, backend, sub, resync, name = listening
        assert await server.command("CLIENT", "PAUSE", "1500", "ALL") == b"+OK\r\n"
        started = time.monotonic()
        await until(lambda: not backend.connected)
        assert time.monotonic() - started < 1.0
        assert await receive(resync) == Event(RECONNECTED, "")
        assert time.monotonic() - started > 1.4  # once the pause is over, not before
        await broadcast.publish(name, "after")
        assert (await receive(sub)).message == "after"


# PostgreSQL: the listening connection terminated by the server.


async def terminate(application_name: str) -> int:
    assert POSTGRES_URL is not None
    return await terminate_connections(POSTGRES_URL, application_name)


@needs_postgres
async def test_postgres_terminated_listener_reconnects_and_resyncs() -> None:
    name, app = channel(), app_name()
    backend = PostgresBackend(POSTGRES_URL or "", FAST, application_name=app)
    async with (
        connected(backend) as broadcast,
        broadcast.subscribe(RECONNECTED) as resync,
        broadcast.subscribe(name) as sub,
    ):
        await broadcast.publish(name, "before")
        assert (await receive(sub)).message == "before"
        # The publishing pool's connections go too: the next publish retries on a new one.
        assert await terminate(f"{app}-listen") == 1
        assert await terminate(f"{app}-publish") >= 1
        assert await receive(resync) == Event(RECONNECTED, "")
        assert backend.connected
        assert backend.reconnects == 1
        await broadcast.publish(name, "after")
        assert (await receive(sub)).message == "after"
        await nothing_on(sub)


@needs_postgres
async def test_postgres_refuses_what_notify_cannot_carry() -> None:
    backend = make_backend("postgres")
    async with connected(backend) as broadcast:
        with pytest.raises(ValueError, match="63 bytes"):
            await broadcast.publish("x" * 64, "{}")
        with pytest.raises(ValueError, match="8000 bytes"):
            await broadcast.publish(channel(), "x" * 8000)
        with pytest.raises(ValueError, match="63 bytes"):
            await backend.subscribe("x" * 64)


@needs_redis
async def test_redis_cancelled_subscribe_leaves_no_subscription_behind() -> None:
    backend = RedisBackend(REDIS_URL or "", FAST)
    name = channel()
    await backend.connect()
    try:
        attempt = asyncio.create_task(backend.subscribe(name))
        for _ in range(3):  # SUBSCRIBE written, confirmation not read yet
            await asyncio.sleep(0)
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        assert name not in backend._channels
        publisher = backend._publisher
        assert publisher is not None
        await until_async(
            lambda: publisher.execute_command("PUBSUB", "NUMSUB", name), [name.encode(), 0]
        )
    finally:
        await backend.disconnect()


async def until_async(probe: Callable[[], Awaitable[object]], expected: object) -> None:
    deadline = time.monotonic() + WAIT
    while (got := await probe()) != expected:
        assert time.monotonic() < deadline, got
        await asyncio.sleep(0.01)


@needs_redis_server
async def test_a_refused_notice_is_announced_once_redis_is_back(tmp_path: Path) -> None:
    event = Event_(id=7, conversation_id=uuid.uuid4(), seq=3, kind=EventKind.COMPLETE)
    async with redis_server(tmp_path) as server:
        backend = RedisBackend(server.url, FAST)
        async with connected(backend) as broadcast:
            bus = EventBus(broadcast, sessions=None, feed_size=10)  # type: ignore[arg-type]
            async with broadcast.subscribe(conversation_channel(event.conversation_id)) as sub:
                await server.kill()
                await until(lambda: not backend.connected)
                started = time.monotonic()
                await bus.publish([event])  # refused: it waits instead of being lost
                assert time.monotonic() - started < 3.0
                await server.start()
                notice = Notice.decode((await receive(sub)).message)
                assert (notice.event_id, notice.seq) == (7, 3)
            await bus.stop_retrying()
