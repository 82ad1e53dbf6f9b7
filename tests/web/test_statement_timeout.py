"""Every SQL statement has a time limit: PostgreSQL's statement_timeout, and on SQLite
a progress handler that interrupts a statement past it. No mocks: real slow SQL."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette

from config import Settings
from resolvers.analytics.compaction import in_one_snapshot
from resolvers.db import (
    Database,
    create_session_factory,
    is_sqlite,
    is_statement_timeout,
    without_statement_timeout,
)
from tests.databases import admin_connection
from tests.web.conftest import app_with


def numbers(n: int) -> str:
    """SQLite's 1 to n."""
    return (
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
        "SELECT i FROM n"
    )


def counting(n: int) -> str:
    """SQLite busy for a while: about 0.17 s per million here."""
    return f"SELECT count(*) FROM ({numbers(n)})"


def slow(url: str, seconds: float) -> str:
    """A statement that runs for about `seconds` (SQLite: on this machine)."""
    if is_sqlite(url):
        return counting(int(seconds * 6_000_000))
    return f"SELECT pg_sleep({seconds})"


@asynccontextmanager
async def connected(url: str, timeout_ms: int) -> AsyncIterator[AsyncConnection]:
    database = Database.from_url(url, timeout_ms)
    try:
        async with database.engine.connect() as connection:
            yield connection
    finally:
        await database.engine.dispose()


async def timed_out(connection: AsyncConnection, statement: str) -> float:
    """How long `statement` ran before the timeout stopped it."""
    started = time.monotonic()
    with pytest.raises(DBAPIError) as caught:
        await connection.exec_driver_sql(statement)
    assert is_statement_timeout(caught.value), caught.value
    await connection.rollback()
    return time.monotonic() - started


async def test_a_statement_past_the_timeout_is_stopped(database_url: str) -> None:
    async with connected(database_url, 100) as connection:
        # Minutes of work, or ten seconds of sleep, stopped after about 0.1 s.
        assert await timed_out(connection, slow(database_url, 10)) < 2
        # The connection is fine afterwards.
        assert (await connection.exec_driver_sql("SELECT 1")).scalar() == 1
        if not is_sqlite(database_url):
            shown = await connection.exec_driver_sql("SHOW statement_timeout")
            assert shown.scalar() == "100ms"


async def test_the_limit_is_per_statement_not_per_transaction(database_url: str) -> None:
    async with connected(database_url, 150) as connection, connection.begin():
        for _ in range(3):
            await connection.exec_driver_sql(slow(database_url, 0.02))
            # Time between statements counts for none of them (nor for COMMIT).
            await asyncio.sleep(0.2)


async def test_a_block_can_run_without_the_limit(database_url: str) -> None:
    async with connected(database_url, 100) as connection:
        statement = slow(database_url, 1)
        await timed_out(connection, statement)
        async with connection.begin():
            async with without_statement_timeout(connection):
                await connection.exec_driver_sql(statement)
            # The limit is back once the block ends.
            await timed_out(connection, statement)


async def test_zero_means_no_limit(database_url: str) -> None:
    async with connected(database_url, 0) as connection:
        await connection.exec_driver_sql(slow(database_url, 0.3))


@asynccontextmanager
async def slow_components(app: Starlette, url: str) -> AsyncIterator[int]:
    """Makes `components` slow to query; yields a statement timeout it goes past.

    PostgreSQL: another transaction holds the table locked (lock waits count towards
    statement_timeout). SQLite: 100,000 components for keyContains to scan, each key
    casefolded in Python (some 50 ms here), against a limit of 2 ms.
    """
    if is_sqlite(url):
        async with app.state.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO components (id, key, type, name, created_at, version_count) "
                    "SELECT lower(hex(randomblob(16))), 'component-' || i, 'OTHER', 'c', "
                    f"'2026-01-01 00:00:00.000000', 0 FROM ({numbers(100_000)})"
                )
            )
        yield 2
        return
    admin = await admin_connection(url)
    try:
        async with admin.transaction():
            await admin.execute("LOCK TABLE components IN ACCESS EXCLUSIVE MODE")
            yield 300
    finally:
        await admin.close()


QUERY = '{ components(filter: {keyContains: "no-such-key"}) { edges { node { key } } } }'


async def test_a_query_past_the_timeout_fails_with_its_own_code(
    app: Starlette,
    settings: Settings,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        slow_components(app, settings.database_url) as timeout_ms,
        app_with(settings, statement_timeout_ms=timeout_ms) as client,
    ):
        with caplog.at_level(logging.WARNING, logger="threadline.errors"):
            response = await client.post("/graphql", json={"query": QUERY})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    request_id = error["extensions"]["requestId"]
    assert error["extensions"] == {"code": "TIMEOUT", "requestId": request_id}
    assert error["path"] == ["components"]
    assert error["message"] == (
        "A database statement took longer than the server allows; ask for less "
        f"(a smaller page, a narrower filter) or try again later (request id {request_id})"
    )
    assert "SELECT" not in response.text
    [record] = [r for r in caplog.records if r.name == "threadline.errors"]
    assert record.levelno == logging.WARNING
    assert request_id in record.getMessage()
    # The same query, with the default limit, answers.
    assert (await http.post("/graphql", json={"query": QUERY})).json() == {
        "data": {"components": {"edges": []}}
    }


async def test_compaction_runs_without_the_limit(database_url: str) -> None:
    """Upkeep is no request: a compaction batch outlasting the limit still finishes
    (after a bulk load, one batch merges millions of deltas)."""
    database = Database.from_url(database_url, 100)
    statement = slow(database_url, 0.5)

    async def merge(session: AsyncSession) -> bool:
        await (await session.connection()).exec_driver_sql(statement)
        return True

    try:
        assert await in_one_snapshot(create_session_factory(database.engine), 1, merge)
        async with database.engine.connect() as connection:
            await timed_out(connection, statement)
    finally:
        await database.engine.dispose()
