"""Two `python main.py serve` processes on one PostgreSQL database and one broadcast
backend (Redis, or PostgreSQL LISTEN/NOTIFY): events written through one reach
subscribers on the other, and a subscriber resumes on either with its cursor.

Needs TEST_DATABASE_URL (a database is created for the module and dropped after);
the Redis variants need TEST_BROADCAST_URL=redis://... too.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from resolvers.ids import from_global_id
from subscriptions.streams import encode_cursor
from tests import factories
from tests.databases import fresh_database
from tests.graphql_client import GraphQLClient
from tests.subscriptions.processes import (
    REDIS_SERVER,
    RedisServer,
    ServerProcess,
    redis_server,
    serving,
)
from tests.ws_client import GraphQLWebSocket, connect

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
_broadcast_url = os.environ.get("TEST_BROADCAST_URL", "")
REDIS_URL = _broadcast_url if _broadcast_url.startswith(("redis://", "rediss://")) else None

pytestmark = pytest.mark.skipif(POSTGRES_URL is None, reason="TEST_DATABASE_URL is not set")

EVENTS = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    seq cursor kind ... on MessageEvent { message { content } }
  }
}"""


@dataclass
class Cluster:
    a: ServerProcess
    b: ServerProcess


@pytest.fixture(scope="module", params=["redis", "postgres"])
async def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    if request.param == "redis" and REDIS_URL is None:
        pytest.skip("TEST_BROADCAST_URL is not redis://")
    assert POSTGRES_URL is not None
    logs = tmp_path_factory.mktemp(f"servers-{request.param}")
    async with fresh_database(POSTGRES_URL) as database_url:
        broadcast_url = REDIS_URL if request.param == "redis" else postgres_url(database_url)
        env = {"DATABASE_URL": database_url, "BROADCAST_URL": broadcast_url or ""}
        async with serving(logs, **pair(env)) as servers:
            yield Cluster(servers["a"], servers["b"])


def pair(env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Two servers, a and b, started side by side; a migrates the database."""
    return {"a": {**env, "AUTO_MIGRATE": "1"}, "b": {**env, "AUTO_MIGRATE": "0"}}


def postgres_url(database_url: str) -> str:
    """The broadcast spelling of the database's URL (postgres://, as people write it)."""
    return "postgres://" + database_url.split("://", 1)[1]


def client(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http_url, timeout=10)


async def events(ws: GraphQLWebSocket, op: str, count: int) -> list[dict[str, Any]]:
    return [e["conversationEvents"] for e in await ws.collect(op, count)]


def contents(items: list[dict[str, Any]]) -> list[tuple[int, str, str | None]]:
    return [(e["seq"], e["kind"], (e.get("message") or {}).get("content")) for e in items]


async def test_event_written_on_b_reaches_subscriber_on_a(cluster: Cluster) -> None:
    async with client(cluster.b) as http_b, connect(cluster.a.ws_url) as ws:
        gql_b = GraphQLClient(http_b)
        conv = await factories.conversation(gql_b)
        op = await ws.subscribe(EVENTS, {"c": conv["id"], "after": from_start(conv["id"])})
        # Replayed from the log: A's live feed is open from here on, so what comes
        # next can only come through the broadcast backend.
        assert contents(await events(ws, op, 1)) == [(1, "CONVERSATION_CREATED", None)]
        await factories.message(gql_b, conv["id"], content="from b")
        assert contents(await events(ws, op, 1)) == [(2, "MESSAGE_CREATED", "from b")]
        await ws.nothing_more(op)


async def test_resume_on_the_other_process_gets_exactly_what_was_missed(
    cluster: Cluster,
) -> None:
    async with client(cluster.a) as http_a, client(cluster.b) as http_b:
        gql_a, gql_b = GraphQLClient(http_a), GraphQLClient(http_b)
        conv = await factories.conversation(gql_b)
        async with connect(cluster.a.ws_url) as ws:
            op = await ws.subscribe(EVENTS, {"c": conv["id"], "after": from_start(conv["id"])})
            assert contents(await events(ws, op, 1)) == [(1, "CONVERSATION_CREATED", None)]
            await factories.message(gql_b, conv["id"], content="m1")
            [seen] = await events(ws, op, 1)
            assert contents([seen]) == [(2, "MESSAGE_CREATED", "m1")]
        # Disconnected: these are missed.
        for content in ("m2", "m3"):
            await factories.message(gql_a, conv["id"], content=content)
        await factories.message(gql_b, conv["id"], content="m4")

        async with connect(cluster.b.ws_url) as ws:
            op = await ws.subscribe(EVENTS, {"c": conv["id"], "after": seen["cursor"]})
            assert contents(await events(ws, op, 3)) == [
                (3, "MESSAGE_CREATED", "m2"),
                (4, "MESSAGE_CREATED", "m3"),
                (5, "MESSAGE_CREATED", "m4"),
            ]
            await factories.message(gql_a, conv["id"], content="live")  # written on A
            assert contents(await events(ws, op, 1)) == [(6, "MESSAGE_CREATED", "live")]
            await ws.nothing_more(op)


@pytest.mark.skipif(
    REDIS_URL is None or REDIS_SERVER is None, reason="needs TEST_BROADCAST_URL and redis-server"
)
async def test_subscriber_catches_up_after_redis_restarts(tmp_path: Path) -> None:
    """Events written while Redis is down are not published; the reconnect makes the
    subscriber re-read the log, so it gets them anyway, in order, then live ones."""
    assert POSTGRES_URL is not None
    async with (
        fresh_database(POSTGRES_URL) as database_url,
        redis_server(tmp_path) as redis,
    ):
        env = {"DATABASE_URL": database_url, "BROADCAST_URL": redis.url}
        async with (
            serving(tmp_path, **pair(env)) as servers,
            client(servers["b"]) as http_b,
            connect(servers["a"].ws_url) as ws,
        ):
            await catch_up_after_restart(GraphQLClient(http_b), ws, redis)


async def catch_up_after_restart(
    gql_b: GraphQLClient, ws: GraphQLWebSocket, redis: RedisServer
) -> None:
    conv = await factories.conversation(gql_b)
    op = await ws.subscribe(EVENTS, {"c": conv["id"], "after": from_start(conv["id"])})
    assert contents(await events(ws, op, 1)) == [(1, "CONVERSATION_CREATED", None)]
    await redis.kill()
    await factories.message(gql_b, conv["id"], content="while down")  # publish fails, logged
    await ws.nothing_more(op)
    await redis.start()
    assert contents(await events(ws, op, 1)) == [(2, "MESSAGE_CREATED", "while down")]
    await factories.message(gql_b, conv["id"], content="after")
    assert contents(await events(ws, op, 1)) == [(3, "MESSAGE_CREATED", "after")]
    await ws.nothing_more(op)


def from_start(conversation_id: str) -> str:
    """A cursor before the conversation's first event: replay the whole log first."""
    return encode_cursor(from_global_id(conversation_id)[1], 0)
