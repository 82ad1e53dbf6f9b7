"""Engine and session factories: the only place that knows how to connect."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.asyncio import AsyncSession as RowSession
from sqlalchemy.util import await_
from sqlmodel.ext.asyncio.session import AsyncSession

from resolvers.filters import register_sqlite_functions

SessionFactory = async_sessionmaker[AsyncSession]
RowSessionFactory = async_sessionmaker[RowSession]
# Execution option marking connections that will write (see _begin_sqlite).
WRITES = "threadline_writes"
# Where a SQLite connection keeps its StatementClock (in its pool record's info).
CLOCK = "threadline_statement_clock"
# SQLite instructions run between two looks at the clock: tens of microseconds, and a
# few per cent of the time of a statement that runs long enough to be looked at.
PROGRESS_STEPS = 1000
# Where a pooled connection notes when it was last returned (in its record's info), and
# how long it may idle before it is checked again before use.
IDLE_SINCE = "threadline_idle_since"
PING_AFTER_IDLE_S = 1.0
# PostgreSQL's query_canceled: the statement timeout (or a pg_cancel_backend).
QUERY_CANCELED = "57014"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, statement_timeout_ms: int = 0, **kwargs: Any) -> AsyncEngine:
    """An engine whose statements each run for at most `statement_timeout_ms` (0: no limit)."""
    if is_sqlite(url):
        # Writers wait for each other instead of failing with "database is locked".
        kwargs.setdefault("connect_args", {"timeout": 30})
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        # The most recently returned connection first: under light load the others stay
        # idle (and are pinged when needed, see _ping_after_idle) rather than all of
        # them idling past the ping threshold in turn.
        kwargs.setdefault("pool_use_lifo", True)
        if statement_timeout_ms > 0:
            # asyncpg sends it when connecting: no round trip per connection or query.
            connect_args = dict(kwargs.get("connect_args", {}))
            server_settings = dict(connect_args.get("server_settings", {}))
            server_settings["statement_timeout"] = str(statement_timeout_ms)
            kwargs["connect_args"] = {**connect_args, "server_settings": server_settings}
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
        if statement_timeout_ms > 0:
            _time_sqlite_statements(engine, statement_timeout_ms / 1000)
    else:
        _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: AsyncEngine) -> None:
    """Check a pooled connection before use when it has been idle PING_AFTER_IDLE_S or
    longer (the server may have closed it meanwhile), and replace it if it is dead.

    SQLAlchemy's pool_pre_ping checks on every checkout: on asyncpg three round trips
    (BEGIN, an empty query, ROLLBACK), 0.37 ms of a 2 ms read. A connection returned
    to the pool a moment ago was working then: it is used without a check.
    """
    dialect = engine.sync_engine.dialect

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (a new one).
            raise DisconnectionError(f"a pooled connection was closed: {exc}") from exc

    event.listen(engine.sync_engine.pool, "checkin", checked_in)
    event.listen(engine.sync_engine.pool, "checkout", checked_out)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The driver would BEGIN only at the first write, leaving the reads before it
    # outside the transaction; SQLAlchemy's "begin" event starts it instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys unless told per connection; WAL lets readers
    # run while one writer commits.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    register_sqlite_functions(dbapi_connection)


def _begin_sqlite(connection: Connection) -> None:
    # SQLite has no SELECT ... FOR UPDATE: a writer takes the write lock when it
    # begins, so its checks and its writes cannot interleave with another writer's.
    writes = connection.get_execution_options().get(WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


class StatementClock:
    """SQLite has no statement timeout: this interrupts a statement that runs too long.

    The engine starts the clock before each statement and stops it after; SQLite
    calls `expired` every PROGRESS_STEPS instructions, on the driver's thread, and
    interrupts the statement when it answers true: an OperationalError, "interrupted"
    (an interrupted write rolls its transaction back). Between statements, COMMIT
    included, the clock is stopped.
    """

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.deadline: float | None = None

    def start(self) -> None:
        self.deadline = None if self.limit is None else time.monotonic() + self.limit

    def stop(self) -> None:
        self.deadline = None

    def expired(self) -> bool:
        deadline = self.deadline
        return deadline is not None and time.monotonic() > deadline


# The clock of a connection not (yet) timed: it never runs.
STOPPED = StatementClock(None)


def _time_sqlite_statements(engine: AsyncEngine, limit: float) -> None:
    def connect(_dbapi_connection: Any, record: Any) -> None:
        clock = StatementClock(limit)
        record.info[CLOCK] = clock
        # aiosqlite runs SQLite on a thread of its own: ask it to install the handler there.
        await_(record.driver_connection.set_progress_handler(clock.expired, PROGRESS_STEPS))

    def clock_of(connection: Connection | None) -> StatementClock:
        found = None if connection is None else connection.info.get(CLOCK)
        return found if found is not None else STOPPED

    def before(connection: Connection, *_args: Any) -> None:
        clock_of(connection).start()

    def after(connection: Connection, *_args: Any) -> None:
        clock_of(connection).stop()

    def failed(context: ExceptionContext) -> None:
        clock_of(context.connection).stop()

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "connect", connect)
    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", failed)


def is_statement_timeout(error: BaseException | None) -> bool:
    """Whether `error` is a statement stopped for running past the statement timeout."""
    if not isinstance(error, DBAPIError):
        return False
    driver_error = error.orig
    # SQLite: only the StatementClock interrupts statements. PostgreSQL: query_canceled,
    # whose message is in the server's language, so it is not looked at.
    return (
        getattr(driver_error, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT
        or getattr(driver_error, "sqlstate", None) == QUERY_CANCELED
    )


@asynccontextmanager
async def without_statement_timeout(connection: AsyncConnection) -> AsyncIterator[None]:
    """Statements on `connection` run as long as they take (migrations), until the
    block ends. PostgreSQL: for the transaction `connection` is in, at most."""
    if connection.dialect.name == "postgresql":
        await connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        yield
        # Back to the limit the connection was opened with (an error rolls it back).
        await connection.exec_driver_sql("SET LOCAL statement_timeout TO DEFAULT")
        return
    clock: StatementClock | None = connection.info.get(CLOCK)
    if clock is None:
        yield
        return
    limit, clock.limit = clock.limit, None
    try:
        yield
    finally:
        clock.limit = limit


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions for mutations: they begin as writers."""
    writer = engine.execution_options(**{WRITES: True})
    return async_sessionmaker(writer, class_=AsyncSession, expire_on_commit=False)


@dataclass(frozen=True)
class Database:
    """An engine and its two kinds of session; nothing connects until first use.

    Writes use SQLModel sessions (`exec`); reads (the loaders, the compiled path) use
    plain SQLAlchemy sessions, whose `execute` always yields row tuples, whatever is
    selected.
    """

    engine: AsyncEngine
    # The engine of reads: on PostgreSQL, with AUTOCOMMIT (see from_url).
    reads: AsyncEngine
    sessions: SessionFactory
    row_sessions: RowSessionFactory

    @classmethod
    def from_url(cls, url: str, statement_timeout_ms: int = 0) -> Database:
        """`statement_timeout_ms` bounds every statement (0: no limit)."""
        engine = create_engine(url, statement_timeout_ms)
        # PostgreSQL reads run outside a transaction: under READ COMMITTED each statement
        # takes its own snapshot either way, and BEGIN and ROLLBACK were two more round
        # trips per read. SQLite's reads keep theirs: in WAL mode a read transaction
        # holds one snapshot for all of its statements.
        reads = engine if is_sqlite(url) else engine.execution_options(isolation_level="AUTOCOMMIT")
        return cls(
            engine=engine,
            reads=reads,
            sessions=create_session_factory(engine),
            row_sessions=async_sessionmaker(reads, class_=RowSession, expire_on_commit=False),
        )
