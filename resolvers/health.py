"""The readiness checks' SQL: does the database answer a read, and does it take a write?

Each check returns quietly or raises NotReady, whose `reason` is a few words safe to
show to anybody (a probe's answer); the message, for the log, carries the error.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from models.base import utcnow
from models.health import ReadinessProbe
from resolvers.db import WRITES, Database, sqlite_code_of, sqlstate_of

# The probe's one row.
PROBE_ROW = 1
# Below this much free space on the SQLite file's filesystem the disk counts as full.
# A real write cannot tell: after a checkpoint SQLite rewrites its WAL file in place,
# so small commits still succeed on a full disk while anything larger fails.
MIN_FREE_BYTES = 1 << 20
# Why a check failed, by SQLite's primary result code and by PostgreSQL's SQLSTATE.
SQLITE_REASONS = {
    sqlite3.SQLITE_READONLY: "read-only database",
    sqlite3.SQLITE_FULL: "disk full",
    sqlite3.SQLITE_CANTOPEN: "cannot open the database file",
    sqlite3.SQLITE_IOERR: "I/O error",
    sqlite3.SQLITE_BUSY: "locked by another writer",
}
SQLSTATE_REASONS = {
    "25006": "read-only database",  # read_only_sql_transaction
    "53100": "disk full",
    "57P03": "starting up or shutting down",  # cannot_connect_now
}
# A standby, or a database whose transactions are read-only by default.
POSTGRESQL_WRITABLE = "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"


class NotReady(Exception):
    """A check failed: `reason` for the probe's answer, the message for the log."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


async def check_read(database: Database) -> None:
    """The database answers a query."""
    try:
        async with database.reads.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # whatever stops a read (refused, reset, unopenable file)
        raise NotReady(_reason_of(exc), str(exc)) from exc


async def check_write(database: Database) -> None:
    """The database commits a change, and has room for more."""
    try:
        await _check_free_space(database)
        async with database.engine.execution_options(**{WRITES: True}).begin() as connection:
            if connection.dialect.name == "postgresql":
                in_recovery, read_only = (await connection.execute(text(POSTGRESQL_WRITABLE))).one()
                if in_recovery:
                    raise NotReady("in recovery (a standby)", "pg_is_in_recovery() is true")
                if read_only == "on":
                    raise NotReady("read-only database", "transaction_read_only is on")
            await connection.execute(_touch(connection.dialect.name))
    except NotReady:
        raise
    except Exception as exc:  # whatever stops a write
        raise NotReady(_reason_of(exc), str(exc)) from exc


async def _check_free_space(database: Database) -> None:
    path = database.engine.url.database
    if database.engine.dialect.name != "sqlite" or not path or path == ":memory:":
        return
    # Syscalls on a filesystem that may be in trouble: not on the event loop's thread.
    free = await asyncio.to_thread(_free_bytes, path)
    if free < MIN_FREE_BYTES:
        raise NotReady("disk full", f"{free} bytes free next to {path}")


def _free_bytes(path: str) -> int:
    stats = os.statvfs(os.path.dirname(os.path.abspath(path)))
    return stats.f_bavail * stats.f_frsize


def _touch(dialect: str) -> Any:
    """Rewrite the probe's row (inserted if missing)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(ReadinessProbe).values(id=PROBE_ROW, checked_at=utcnow())
    return statement.on_conflict_do_update(
        index_elements=["id"], set_={"checked_at": statement.excluded.checked_at}
    )


def _reason_of(error: BaseException) -> str:
    driver_error = error.orig if isinstance(error, DBAPIError) else error
    code = sqlite_code_of(driver_error)
    state = sqlstate_of(driver_error) or ""
    named = SQLITE_REASONS.get(code) if code is not None else SQLSTATE_REASONS.get(state)
    if named is not None:
        return named
    # Refused, reset, timed out, or lost: a connection exception (SQLSTATE class 08).
    lost = isinstance(error, DBAPIError) and error.connection_invalidated
    if isinstance(driver_error, OSError) or lost or state.startswith("08"):
        return "unreachable"
    return "failed"
