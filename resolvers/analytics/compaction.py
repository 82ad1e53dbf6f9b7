"""Compaction of the roll-up tables that triggers keep as signed delta rows (usage and
score roll-ups): a batch of a table's pending rows merged into one row per key, in one
snapshot, so that no sum a reader sees ever changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlmodel
from sqlalchemy import delete, func, insert, literal, not_, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from resolvers.db import SessionFactory, without_statement_timeout
from resolvers.ingest.rows import dialect_of

# Runs before a batch is merged, given the batch's values and the newest row id in it.
BeforeMerge = Callable[[AsyncSession, list[Any], int], Awaitable[None]]


async def in_one_snapshot(
    sessions: SessionFactory, lock: int, merge: Callable[[AsyncSession], Awaitable[bool]]
) -> bool:
    """Run `merge` in one transaction that sees one snapshot (REPEATABLE READ on
    PostgreSQL, behind the advisory lock `lock`, so one process compacts at a time;
    SQLite's writer holds the write lock throughout): a delta committed meanwhile is
    neither merged nor deleted. What `merge` returns (whether work was left), or False
    when another process holds the lock.

    Without the statement timeout: requests have it, upkeep does not. A batch after a
    bulk load (millions of deltas) outlasts any request's limit, and a compaction that
    always times out never ends the backlog that makes every read sum more rows."""
    async with sessions() as session:
        if dialect_of(session) == "postgresql":
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            locked = sqlmodel.select(func.pg_try_advisory_xact_lock(lock))
            if not (await session.exec(locked)).one():
                return False
        async with without_statement_timeout(await session.connection()):
            more = await merge(session)
        await session.commit()
    return more


async def merge_pending(
    session: AsyncSession,
    table: Any,
    batch_key: Any,
    summed: Sequence[str],
    limit: int,
    *,
    first: Sequence[str] = (),
    before: BeforeMerge | None = None,
) -> int:
    """Merge the rows of up to `limit` values of `batch_key` that have rows not yet
    merged into one row per key (every column but the `summed` ones the table has, the
    id and `compacted`); keys whose first sum nets to nothing go. The merged rows are written
    in key order, `first` columns leading, so that the rows one read wants share pages.
    How many values there were: `limit` means some may be left."""
    pending = sqlmodel.select(batch_key).where(not_(col(table.compacted))).distinct().limit(limit)
    values = list(await session.exec(pending))
    if not values:
        return 0
    newest = (await session.exec(sqlmodel.select(func.max(col(table.id))))).one()
    if before is not None:
        await before(session, values, newest)
    mine = [batch_key.in_(values), col(table.id) <= newest]
    columns = table.__table__.c
    keys = [c for c in columns if c.name not in {"id", "compacted", *summed}]
    keys.sort(key=lambda c: first.index(c.name) if c.name in first else len(first))
    summed = [name for name in summed if name in columns]
    sums = [func.sum(columns[name]) for name in summed]
    merged = (
        select(*keys, *sums, literal(True))
        .where(*mine)
        .group_by(*keys)
        .having(sums[0] != 0)
        .order_by(*keys)
    )
    names = [*(c.name for c in keys), *summed, "compacted"]
    await session.exec(insert(table).from_select(names, merged))
    await session.exec(delete(table).where(*mine))
    return len(values)
