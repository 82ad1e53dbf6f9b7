"""The probes: /healthz (liveness) asks nothing of the database; /readyz (readiness)
asks it for a read and a committed write, and the broadcast backend whether it is
connected, each within CHECK_TIMEOUT_S."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from starlette.applications import Starlette

from config import Settings
from resolvers.db import WRITES
from resolvers.errors import RETRY_AFTER_SECONDS
from tests.databases import admin_connection, fresh_database
from tests.subscriptions.processes import REDIS_SERVER, redis_server
from tests.web.conftest import app_with, client_of
from web.app import create_app
from web.health import FRESH_FOR_S

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
READY = {"status": "ok", "checks": {"database": "ok", "writable": "ok", "broadcast": "ok"}}


def unavailable(**failed: str) -> dict[str, Any]:
    checks = {"database": "ok", "writable": "ok", "broadcast": "ok", **failed}
    return {"status": "unavailable", "checks": checks}


async def readiness_until(
    client: httpx.AsyncClient, wanted: Callable[[dict[str, Any]], bool], limit: float = 20.0
) -> httpx.Response:
    """The first /readyz answer whose body is `wanted` (a fault takes effect, or ends,
    some time after the test causes it)."""
    deadline = time.monotonic() + limit
    while True:
        response = await client.get("/readyz")
        if wanted(response.json()):
            return response
        assert time.monotonic() < deadline, response.json()
        await asyncio.sleep(0.1)


def assert_unavailable(response: httpx.Response, **failed: str) -> None:
    """A 503 whose body names exactly the `failed` checks, with their reasons."""
    assert (response.status_code, response.json()) == (503, unavailable(**failed))
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


async def test_healthz_answers_without_asking_the_database(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_writes_its_one_row_at_most_once_a_second(
    http: httpx.AsyncClient, app: Starlette
) -> None:
    """Anybody may probe as often as they like: probes within FRESH_FOR_S of the last
    checks get their answer, and write nothing more."""
    written = []
    for _ in range(2):
        await asyncio.sleep(FRESH_FOR_S)
        for _ in range(5):
            response = await http.get("/readyz")
            assert (response.status_code, response.json()) == (200, READY)
            async with app.state.engine.connect() as connection:
                rows = await connection.execute(text("SELECT id, checked_at FROM readiness_probes"))
                written.append(rows.all())
    first, second = written[0], written[5]
    assert len(first) == len(second) == 1
    assert written[:5] == [first] * 5
    assert written[5:] == [second] * 5
    assert first != second


async def test_an_unreachable_database_is_alive_but_not_ready() -> None:
    # Nothing listens on port 1: every connection attempt is refused.
    settings = Settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/threadline", auto_migrate=False
    )
    application = create_app(settings)
    async with LifespanManager(application), client_of(application) as client:
        alive = await client.get("/healthz")
        assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
        failed = {"database": "unreachable", "writable": "unreachable"}
        assert_unavailable(await client.get("/readyz"), **failed)


async def test_a_write_that_waits_too_long_fails_the_probe_in_time(
    http: httpx.AsyncClient, app: Starlette
) -> None:
    assert (await http.get("/readyz")).status_code == 200
    # Another writer holds the probe's row (on SQLite, the write lock) past the timeout.
    writer = app.state.engine.execution_options(**{WRITES: True})
    async with writer.begin() as connection:
        # (Written here: the probe's row may not exist, and /readyz may answer from memory.)
        await connection.execute(
            text(
                "INSERT INTO readiness_probes (id, checked_at) VALUES (1, CURRENT_TIMESTAMP) "
                "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at"
            )
        )
        timed_out = unavailable(writable="timed out")
        assert_unavailable(
            await readiness_until(http, lambda body: body == timed_out), writable="timed out"
        )
        # The probe still waiting is waited on again, not doubled.
        assert_unavailable(await http.get("/readyz"), writable="timed out")
    await readiness_until(http, lambda body: body == READY)


@asynccontextmanager
async def served_on(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, sweep_interval_seconds=0)
    application = create_app(settings)
    async with LifespanManager(application), client_of(application) as client:
        yield client


async def set_read_only(database_url: str, read_only: bool) -> None:
    """Make the database's new sessions read-only (or not), and end the sessions it has
    (as a failover would) so that the server's next ones are new."""
    admin = await admin_connection(POSTGRES_URL or "")
    name = database_url.rsplit("/", 1)[1]
    setting = "default_transaction_read_only"
    change = f"SET {setting} = on" if read_only else f"RESET {setting}"
    try:
        await admin.execute(f'ALTER DATABASE "{name}" {change}')
        await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()


@pytest.mark.skipif(POSTGRES_URL is None, reason="TEST_DATABASE_URL is not set")
async def test_a_read_only_postgresql_database_is_not_ready_until_writable() -> None:
    assert POSTGRES_URL is not None
    async with fresh_database(POSTGRES_URL) as url, served_on(url) as client:
        assert (await client.get("/readyz")).json() == READY
        await set_read_only(url, True)
        # The first probes after the sessions ended may meet one of them dead.
        read_only = unavailable(writable="read-only database")
        answer = await readiness_until(client, lambda body: body == read_only)
        assert_unavailable(answer, writable="read-only database")
        await set_read_only(url, False)
        answer = await readiness_until(client, lambda body: body == READY)
        assert answer.status_code == 200


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
async def test_readyz_fails_while_the_broadcast_backend_is_down(
    app: Starlette, settings: Settings, tmp_path: Path
) -> None:
    async with redis_server(tmp_path) as redis, app_with(settings, broadcast_url=redis.url) as http:
        assert (await http.get("/readyz")).json() == READY
        await redis.kill()
        answer = await readiness_until(http, lambda body: body != READY)
        assert_unavailable(answer, broadcast="disconnected")
        await redis.start()
        answer = await readiness_until(http, lambda body: body == READY)
        assert answer.status_code == 200
