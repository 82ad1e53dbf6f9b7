"""The scale dataset's build on an empty PostgreSQL database, phase by phase and timed:
migrate, drop the secondary indexes and the foreign keys, load (bench/scale_sql*.py),
recreate them exactly as the catalog defined them (a foreign key is then checked by one
join instead of a lookup per row), one sweep, VACUUM ANALYZE. The triggers stay on.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from bench import scale_sql, scale_sql_refs
from bench.harness import ROOT
from bench.scale_data import Size, parameters
from migrations import upgrade_to_head
from resolvers.db import Database
from tests.databases import admin_connection


@dataclass(frozen=True)
class Definition:
    table: str
    drop: str
    create: str


async def relaxed(connection: asyncpg.Connection) -> tuple[list[Definition], list[Definition]]:
    """Drop the secondary (non-unique) indexes and the foreign keys; what recreates them.
    Unique indexes stay: constraints and ON CONFLICT clauses of triggers need them."""
    indexes = await connection.fetch(
        """SELECT i.tablename AS table, format('DROP INDEX %I.%I', i.schemaname, i.indexname)
                  AS drop, i.indexdef AS create
        FROM pg_indexes i
        JOIN pg_class c ON c.relname = i.indexname AND c.relnamespace = i.schemaname::regnamespace
        JOIN pg_index x ON x.indexrelid = c.oid
        WHERE i.schemaname = current_schema() AND NOT x.indisunique"""
    )
    keys = await connection.fetch(
        """SELECT conrelid::regclass::text AS table,
                  format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) AS drop,
                  format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
                         pg_get_constraintdef(oid)) AS create
        FROM pg_constraint
        WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"""
    )
    found = [[Definition(**dict(r)) for r in rows] for rows in (indexes, keys)]
    for definition in itertools.chain(*found):
        await connection.execute(definition.drop)
    return found[0], found[1]


async def largest_first(connection: asyncpg.Connection) -> list[str]:
    """The tables of the schema, largest first."""
    rows = await connection.fetch(
        """SELECT relname FROM pg_class
        WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'
        ORDER BY pg_table_size(oid) DESC"""
    )
    return [r["relname"] for r in rows]


async def vacuums(connection: asyncpg.Connection) -> list[str]:
    """VACUUM ANALYZE for each table, largest first; FULL for those that the load's
    updates or the sweep's merges left a tenth dead or more: a deployment, changing them
    little by little, would have reused that space, so their size would mislead."""
    await connection.execute("SELECT pg_stat_force_next_flush()")
    rows = await connection.fetch(
        """SELECT format(CASE WHEN s.n_dead_tup * 10 >= s.n_live_tup AND s.n_dead_tup > 0
                              THEN 'VACUUM (FULL, ANALYZE) %I' ELSE 'VACUUM (ANALYZE) %I' END,
                         c.relname) AS statement
        FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
        ORDER BY pg_table_size(c.oid) DESC"""
    )
    return [r["statement"] for r in rows]


class Phases:
    """Seconds per build phase, printed as each ends."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 1)
        print(f"  {name:<24} {self.seconds[name]:>7.1f} s", flush=True)


async def run(sessions: Sequence[asyncpg.Connection], statements: Sequence[str]) -> None:
    """Each statement on the first session, or on all at once if it is Everywhere."""
    for statement in statements:
        if isinstance(statement, scale_sql.Everywhere):
            await asyncio.gather(*(session.execute(str(statement)) for session in sessions))
        else:
            await sessions[0].execute(statement)


async def spread(sessions: Sequence[asyncpg.Connection], statements: Sequence[str]) -> None:
    """The statements shared out among the sessions, in order, each taking the next free."""
    queue = list(reversed(statements))

    async def work(session: asyncpg.Connection) -> None:
        while queue:
            await session.execute(queue.pop())

    await asyncio.gather(*(work(session) for session in sessions))


LOAD: list[tuple[str, Sequence[str]]] = [
    ("conversations", scale_sql.CONVERSATIONS),
    ("traces", scale_sql.TRACES),
    ("spans", scale_sql.SPANS),
    ("messages", scale_sql.PRODUCED + scale_sql.MESSAGES + scale_sql.ANSWERS),
    ("tool calls", scale_sql_refs.TOOL_CALLS),
    ("component versions", scale_sql_refs.VERSIONS),
    ("scores", scale_sql_refs.SCORES),
    ("events", scale_sql_refs.EVENTS),
    ("totals", scale_sql_refs.TOTALS),
]


async def open_sessions(url: str, count: int) -> list[asyncpg.Connection]:
    sessions = [await admin_connection(url) for _ in range(count)]
    for part, session in enumerate(sessions):
        for setting in (
            "SET maintenance_work_mem = '1GB'",
            "SET work_mem = '256MB'",
            "SET synchronous_commit = off",
            # Estimates of generate_series joins are huge: JIT would compile for nothing.
            "SET jit = off",
            f"SET scale.parts = {count}",
            f"SET scale.part = {part}",
            f"SELECT setseed({(part + 1) / (count + 1)})",
        ):
            await session.execute(setting)
    return sessions


async def load(sessions: list[asyncpg.Connection], size: Size, timer: Phases) -> None:
    first = sessions[0]
    async with timer.phase("drop indexes and keys"):
        indexes, keys = await relaxed(first)
    async with timer.phase("plan"):
        await run(sessions, scale_sql.SCHEMA)
        await parameters(first, size)
        await run(sessions, scale_sql.PLAN)
    for name, statements in LOAD:
        async with timer.phase(name):
            await run(sessions, statements)
    await first.execute("DROP SCHEMA scale CASCADE")
    order = {table: n for n, table in enumerate(await largest_first(first))}
    async with timer.phase("recreate indexes"):
        await spread(sessions, [d.create for d in sorted(indexes, key=lambda d: order[d.table])])
    async with timer.phase("recreate foreign keys"):
        await run(sessions, [d.create for d in keys])


async def build(url: str, size: Size, connections: int = 2) -> dict[str, float]:
    """Migrate the empty database at `url` and load `size` into it, on `connections`
    sessions at once; seconds per phase."""
    timer = Phases()
    async with timer.phase("migrate"):
        database = Database.from_url(url)
        await upgrade_to_head(database.engine)
        await database.engine.dispose()
    sessions = await open_sessions(url, connections)
    try:
        await load(sessions, size, timer)
        async with timer.phase("sweep"):
            await sweep(url)
        async with timer.phase("vacuum analyze"):
            await spread(sessions, await vacuums(sessions[0]))
    finally:
        for session in sessions:
            await session.close()
    timer.seconds["total"] = round(sum(timer.seconds.values()), 1)
    return timer.seconds


async def sweep(url: str) -> None:
    """One pass of the sweeper, as a deployment's would have made by the time it is read."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "sweep", cwd=ROOT, env={**os.environ, "DATABASE_URL": url}
    )
    if await process.wait():
        raise RuntimeError("main.py sweep failed")
