"""A writer killed (SIGKILL) between its commit and its publish: subscribers on the other
process still receive every committed event, exactly once, in order, within 2 s of its
death (the hub's re-check of the log, LIVE_RECHECK_SECONDS).

Two real server processes on one fresh PostgreSQL database and one broadcast backend
(Redis, or PostgreSQL LISTEN/NOTIFY): `a`, where the subscribers wait, and `b`, run
through tests/subscriptions/dying_server.py, which dies right after it commits a
1,000-item `ingest`. Run with -s to see the measured delay.

Needs TEST_DATABASE_URL; the Redis variant needs TEST_BROADCAST_URL=redis://... too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from resolvers.ids import parse_id
from tests import factories
from tests.databases import admin_connection, fresh_database
from tests.graphql_client import GraphQLClient
from tests.subscriptions.dying_server import TRIGGER
from tests.subscriptions.processes import ServerProcess, serving
from tests.subscriptions.test_multiprocess import POSTGRES_URL, REDIS_URL, client, postgres_url
from tests.ws_client import GraphQLWebSocket, connect

pytestmark = pytest.mark.skipif(POSTGRES_URL is None, reason="TEST_DATABASE_URL is not set")

SUBSCRIBERS = 10
ITEMS = 1000
# The stated bound, from the writer's death to its events being found and sent: the
# first of them arrives within it. (Sending all 10 x 1,000 takes as long as the machine
# needs: 0.3 to 0.9 s more when it is otherwise idle; the figure is printed.)
DELAY = 2.0
EVENTS = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) { seq kind }
}"""
INGEST = """mutation($batch: [IngestItem!]!) { ingest(batch: $batch) { ok } }"""


class DyingServer(ServerProcess):
    """A server that dies between commit and publish once its trigger file exists."""

    command = ("-m", "tests.subscriptions.dying_server", "serve")


@dataclass
class Crash:
    a: ServerProcess  # where the subscribers wait
    b: DyingServer  # the writer that dies
    database_url: str
    trigger: Path


@asynccontextmanager
async def crash_cluster(backend: str, directory: Path, **a_env: str) -> AsyncIterator[Crash]:
    if backend == "redis" and REDIS_URL is None:
        pytest.skip("TEST_BROADCAST_URL is not redis://")
    assert POSTGRES_URL is not None
    async with fresh_database(POSTGRES_URL) as database_url:
        broadcast = REDIS_URL if backend == "redis" else postgres_url(database_url)
        env = {"DATABASE_URL": database_url, "BROADCAST_URL": broadcast or ""}
        trigger = directory / "die-after-commit"
        b_env = {**env, "AUTO_MIGRATE": "0", TRIGGER: str(trigger)}
        b = DyingServer("b", b_env, directory / "b.log")
        async with serving(directory, a={**env, **a_env, "AUTO_MIGRATE": "1"}) as servers:
            try:
                await b.start()
                await b.wait_healthy()
                yield Crash(servers["a"], b, database_url, trigger)
            finally:
                await b.stop()


async def ingest_and_die(crash: Crash, conversation: str) -> float:
    """Send b a 1,000-message ingest with its trigger set; when it died (time.time())."""
    crash.trigger.touch()
    batch = [
        {
            "clientEventId": f"m{n}",
            "message": {"conversationId": conversation, "senderId": "user-1", "content": f"{n}"},
        }
        for n in range(ITEMS)
    ]
    async with client(crash.b) as http_b:
        with pytest.raises(httpx.TransportError):  # no answer: b died after its commit
            await http_b.post("/graphql", json={"query": INGEST, "variables": {"batch": batch}})
    assert crash.b.process is not None
    assert await crash.b.process.wait() == -9, crash.b.output()
    return float(crash.trigger.read_text())


async def logged(database_url: str, conversation: str, after: int) -> list[tuple[int, str]]:
    """The conversation's events in the log after `after`: (seq, kind)."""
    db = await admin_connection(database_url)
    try:
        rows = await db.fetch(
            "SELECT seq, kind FROM events WHERE conversation_id = $1 AND seq > $2 ORDER BY seq",
            parse_id(conversation, "Conversation"),
            after,
        )
    finally:
        await db.close()
    return [(row["seq"], row["kind"]) for row in rows]


async def receive(ws: GraphQLWebSocket, op: str, count: int) -> tuple[list[Any], float, float]:
    """`count` events (seq, kind), and when the first and the last arrived (time.time())."""
    got = [(await ws.next(op, wait=30))["conversationEvents"]]
    first = time.time()
    got += [(await ws.next(op, wait=30))["conversationEvents"] for _ in range(count - 1)]
    return [(e["seq"], e["kind"]) for e in got], first, time.time()


@asynccontextmanager
async def subscribers(crash: Crash, conversation: str) -> AsyncIterator[tuple[list[Any], int]]:
    """SUBSCRIBERS sockets on a, each following the conversation from now (as a viewer
    does; identical subscriptions share one execution), once every one of them hears
    the events b announces; and the seq of the last event they heard."""
    async with AsyncExitStack() as stack:
        following = []
        for _ in range(SUBSCRIBERS):
            ws = await stack.enter_async_context(connect(crash.a.ws_url))
            following.append((ws, await ws.subscribe(EVENTS, {"c": conversation})))
        yield following, await until_live(crash, conversation, following)


async def until_live(crash: Crash, conversation: str, following: list[Any]) -> int:
    """Announce messages until every subscriber heard one, then one more, which all of
    them hear (after the others): its seq."""
    async with client(crash.b) as http_b:
        gql = GraphQLClient(http_b)
        for attempt in range(50):
            await factories.message(gql, conversation, content=f"warm-up {attempt}")
            heard = await asyncio.gather(
                *(ws.next(op, wait=0.3) for ws, op in following), return_exceptions=True
            )
            if not any(isinstance(outcome, BaseException) for outcome in heard):
                break
        else:
            raise AssertionError("the subscribers never went live")
        await factories.message(gql, conversation, content="live")
    [(last, _)] = (await logged(crash.database_url, conversation, after=0))[-1:]
    for ws, op in following:
        while (await ws.next(op))["conversationEvents"]["seq"] != last:
            pass
    return last


async def conversation_on(server: ServerProcess) -> str:
    async with client(server) as http:
        conv: str = (await factories.conversation(GraphQLClient(http)))["id"]
        return conv


@pytest.mark.parametrize("backend", ["redis", "postgres"])
async def test_events_of_a_writer_killed_after_commit_reach_the_other_process(
    backend: str, tmp_path: Path
) -> None:
    async with crash_cluster(backend, tmp_path) as crash:
        conv = await conversation_on(crash.b)
        async with subscribers(crash, conv) as (following, heard):
            died_at = await ingest_and_die(crash, conv)
            log = await logged(crash.database_url, conv, after=heard)
            assert len(log) == ITEMS  # committed before the kill: one event per message
            received = await asyncio.gather(*(receive(ws, op, ITEMS) for ws, op in following))
            first = min(arrived for _, arrived, _ in received) - died_at
            delay = max(arrived for _, _, arrived in received) - died_at
            print(
                f"\n{backend}: {SUBSCRIBERS} x {ITEMS} events after the writer died: "
                f"the first in {first:.3f}s, the last in {delay:.3f}s"
            )
            assert [events for events, _, _ in received] == [log] * SUBSCRIBERS
            assert first < DELAY, f"the first event arrived {first:.2f}s after the writer died"
            await asyncio.gather(*(ws.nothing_more(op, wait=1.2) for ws, op in following))


async def test_without_rechecks_the_events_never_arrive(tmp_path: Path) -> None:
    """The control: what the crash window did before the hub re-checked the log."""
    async with crash_cluster("postgres", tmp_path, LIVE_RECHECK_SECONDS="0") as crash:
        conv = await conversation_on(crash.b)
        async with subscribers(crash, conv) as (following, heard):
            await ingest_and_die(crash, conv)
            assert len(await logged(crash.database_url, conv, after=heard)) == ITEMS
            await asyncio.gather(*(ws.nothing_more(op, wait=3 * DELAY) for ws, op in following))
