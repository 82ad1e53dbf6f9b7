"""Which database errors say "retry later" (is_unavailable), on the errors the drivers
really raise: provoked for real on SQLite and PostgreSQL, none built by hand."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.db import create_engine, is_sqlite, is_statement_timeout, is_unavailable
from tests.databases import admin_connection, fresh_database


async def failure(engine: AsyncEngine, *statements: str) -> BaseException:
    """What running `statements` in a transaction of their own raises (rolled back)."""
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.exec_driver_sql(statement)
    except Exception as exc:
        return exc
    raise AssertionError(f"{statements!r} did not fail")


@contextlib.asynccontextmanager
async def engine_on(url: str, **options: Any) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url, **options)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_mistakes_and_timeouts_are_not_outages(database_url: str) -> None:
    async with engine_on(database_url, statement_timeout_ms=50) as engine:
        mistake = await failure(engine, "SELECT * FROM no_such_table")
        duplicate = await failure(
            engine,
            "CREATE TEMPORARY TABLE t (x INTEGER PRIMARY KEY)",
            "INSERT INTO t VALUES (1)",
            "INSERT INTO t VALUES (1)",
        )
        slow = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) "
            "SELECT count(*) FROM n"
            if is_sqlite(database_url)
            else "SELECT pg_sleep(5)"
        )
        timeout = await failure(engine, slow)
    assert not is_unavailable(mistake)
    assert not is_unavailable(duplicate)
    assert is_statement_timeout(timeout)
    assert not is_unavailable(timeout)


async def test_a_database_nobody_can_reach(database_url: str, tmp_path: Path) -> None:
    if is_sqlite(database_url):
        url = f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'threadline.db'}"  # CANTOPEN
    else:
        with contextlib.closing(socket.socket()) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = make_url(database_url).set(port=port).render_as_string(False)  # refused
    async with engine_on(url) as engine:
        assert is_unavailable(await failure(engine, "SELECT 1"))


async def test_writers_in_each_others_way(database_url: str, tmp_path: Path) -> None:
    """SQLite: locked by another writer past the busy timeout. PostgreSQL: a deadlock,
    which the server breaks by failing one of the two transactions."""
    if is_sqlite(database_url):
        url = f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}"
        async with (
            engine_on(url) as holder,
            engine_on(url, connect_args={"timeout": 0}) as impatient,
            holder.connect() as connection,
        ):
            await connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            await connection.commit()
            await connection.exec_driver_sql("INSERT INTO t VALUES (1)")  # holds the lock
            in_the_way = await failure(impatient, "INSERT INTO t VALUES (2)")  # SQLITE_BUSY
    else:
        async with (
            fresh_database(database_url, "threadline_errors") as url,
            engine_on(url) as engine,
            engine.connect() as first,
            engine.connect() as second,
        ):
            async with engine.begin() as setup:
                await setup.exec_driver_sql("CREATE TABLE t (x INTEGER PRIMARY KEY)")
                await setup.exec_driver_sql("INSERT INTO t VALUES (1), (2)")
            await first.exec_driver_sql("UPDATE t SET x = x WHERE x = 1")
            await second.exec_driver_sql("UPDATE t SET x = x WHERE x = 2")
            crossed = await asyncio.gather(
                first.exec_driver_sql("UPDATE t SET x = x WHERE x = 2"),
                second.exec_driver_sql("UPDATE t SET x = x WHERE x = 1"),
                return_exceptions=True,
            )
            [in_the_way] = [e for e in crossed if isinstance(e, BaseException)]  # 40P01
    assert is_unavailable(in_the_way)


@pytest.mark.postgres_only
async def test_postgresql_outages(database_url: str) -> None:
    async with fresh_database(database_url, "threadline_errors") as url:
        name = make_url(url).database
        admin = await admin_connection(database_url)
        async with engine_on(url, pool_size=1, max_overflow=0, pool_timeout=0.1) as engine:
            # No connection free in the pool.
            async with engine.connect() as held:
                await held.exec_driver_sql("SELECT 1")
                pool_timeout = await failure(engine, "SELECT 1")
            # The server ends the connection (a restart, an administrator).
            await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
            await asyncio.sleep(0.1)
            terminated = await failure(engine, "SELECT 1")
            # A read-only database (a hot standby answers the same SQLSTATE, 25006).
            await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            await engine.dispose()
            read_only = await failure(engine, "CREATE TABLE t (x INTEGER)")
        await admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await admin.close()
    assert is_unavailable(pool_timeout)
    assert is_unavailable(terminated)
    assert is_unavailable(read_only)
    # Discarded with its pool (handle_error), as a lost connection is.
    assert read_only.connection_invalidated  # type: ignore[attr-defined]
