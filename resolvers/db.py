"""Engine and session factories: the only place that knows how to connect."""

from __future__ import annotations

import asyncio
import errno
import gc
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from asyncpg.exceptions import InternalClientError
from sqlalchemy import Connection, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.asyncio import AsyncSession as RowSession
from sqlalchemy.util import await_
from sqlmodel.ext.asyncio.session import AsyncSession

from config import Settings
from resolvers.errors import ThreadlineError, Unavailable
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
# After a SQLite connection was discarded, a new one waits for those opened before to
# close, and for the requests that failed with them to end (DISCARD_SETTLE_S, their
# errors hold the failed statements): at most DISCARD_WAIT_S, looking every
# DISCARD_POLL_S.
DISCARD_SETTLE_S = 0.2
DISCARD_WAIT_S = 5.0
DISCARD_POLL_S = 0.02
# PostgreSQL's query_canceled: the statement timeout (or a pg_cancel_backend).
QUERY_CANCELED = "57014"
# PostgreSQL errors that say "not now" rather than "not this request". Classes: connection
# exceptions (08), insufficient resources (53: disk full, out of memory, too many
# connections). Codes: the server shutting down or starting (57P01-57P03), a read-only
# transaction (25006: a hot standby, default_transaction_read_only), and a serialization
# failure or deadlock (40001, 40P01) and a lock not available in time (55P03), which the
# same request retried gets past, and an I/O error of the server (58030).
UNAVAILABLE_CLASSES = frozenset({"08", "53"})
UNAVAILABLE_STATES = frozenset(
    {"57P01", "57P02", "57P03", "25006", "40001", "40P01", "55P03", "58030"}
)
# Connecting to the server failed: refused, reset, timed out, no route.
UNREACHABLE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EPIPE,
        errno.ENOTCONN,
    }
)
# Of those, the ones after which a pooled connection is of no more use: it lost its
# server, or it is attached to a read-only one (or session) that a new connection may not be.
DISCARDED_CLASSES = frozenset({"08"})
READ_ONLY_TRANSACTION = "25006"
DISCARDED_STATES = frozenset({"57P01", "57P02", "57P03", READ_ONLY_TRANSACTION})
# SQLite's primary result codes (an extended code adds detail in its high bits) that say
# the same: locked by another writer past the busy timeout, a read-only file, an I/O
# error, a full disk, a file that cannot be opened.
SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
    }
)
# Of those, the ones after which a SQLite connection is discarded: one opened while the
# file was read-only stays read-only after the file is writable again.
SQLITE_DISCARDED = frozenset(
    {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN}
)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def pool_arguments(settings: Settings) -> dict[str, Any]:
    """A PostgreSQL engine's pool, as the DATABASE_POOL_* settings describe it (config.py
    says why the defaults are what they are)."""
    return {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_recycle": settings.database_pool_recycle_seconds or -1,
        "pool_timeout": settings.database_pool_timeout_seconds,
    }


def create_engine(url: str, statement_timeout_ms: int = 0, **kwargs: Any) -> AsyncEngine:
    """An engine whose statements each run for at most `statement_timeout_ms` (0: no limit).

    SQLite keeps SQLAlchemy's own pool; PostgreSQL's has the settings' built-in defaults
    (not the environment's) unless `kwargs` says otherwise: Database.from_settings passes
    the configured one.
    """
    if is_sqlite(url):
        # Writers wait for each other instead of failing with "database is locked".
        kwargs.setdefault("connect_args", {"timeout": 30})
    else:
        kwargs = {**pool_arguments(Settings()), **kwargs}
        # The most recently returned connection first: under light load the others stay
        # idle (and are pinged when needed, see _ping_after_idle) rather than all of
        # them idling past the ping threshold in turn.
        kwargs.setdefault("pool_use_lifo", True)
        # asyncpg sends these when connecting: no round trip per connection or query.
        connect_args = dict(kwargs.get("connect_args", {}))
        server_settings = dict(connect_args.get("server_settings", {}))
        # The analytical reads' estimates pass jit_above_cost, and compiling them took
        # 15-100 ms a statement at millions of spans: more than reads meant to answer
        # in tens of milliseconds ever win back (bench scale, docs/scaling.md).
        server_settings.setdefault("jit", "off")
        if statement_timeout_ms > 0:
            server_settings["statement_timeout"] = str(statement_timeout_ms)
        kwargs["connect_args"] = {
            **connect_args,
            "server_settings": server_settings,
            # asyncpg prepares again, at every call, a statement past 15 KiB: a compiled
            # read (resolvers/compiled/driver.py) of a wide selection is one, and took
            # 15.7 ms where it took 1.6 ms prepared once. 0: kept whatever its size.
            "max_cacheable_statement_size": connect_args.get("max_cacheable_statement_size", 0),
        }
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "handle_error", _discard_unusable_connections)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
        if statement_timeout_ms > 0:
            _time_sqlite_statements(engine, statement_timeout_ms / 1000)
        # Last: it counts the connections that opened, not those whose set-up failed.
        _close_all_after_discard(engine)
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


def _discard_unusable_connections(context: ExceptionContext) -> None:
    """Treat the errors after which a connection is of no more use as disconnects:
    SQLAlchemy then discards it and the pool's older connections, and the next ones are
    opened afresh, so the server recovers once the database does, without a restart."""
    error = context.original_exception
    state = sqlstate_of(error)
    if (
        sqlite_code_of(error) in SQLITE_DISCARDED
        or (state is not None and (state[:2] in DISCARDED_CLASSES or state in DISCARDED_STATES))
        or isinstance(error.__cause__, InternalClientError)
    ):
        context.is_disconnect = True
        if state == READ_ONLY_TRANSACTION:
            # Only the connection that wrote: reads on the others still work, and each
            # is replaced at its own first failed write.
            context.invalidate_pool_on_disconnect = False


def _close_all_after_discard(engine: AsyncEngine) -> None:
    """After a SQLite connection was discarded (read-only, full, I/O error), close every
    connection of the engine before a new one opens: the idle ones at once, the busy ones
    when they come back, while new connections wait.

    The connections of one process share a file's locks and shared memory: while one
    opened in the read-only time stays open, every new connection is read-only too, so
    replacing them one by one (as SQLAlchemy does) never recovers while requests keep
    coming. And closing is not enough: sqlite3_close_v2 keeps a connection's file open
    until its prepared statements are finalized, and the failed statement's cursor lives
    on in the error's traceback, a reference cycle; so garbage is collected once the
    requests that failed have ended, before the next connection opens.
    """
    sync_engine = engine.sync_engine
    discarded_at = [0.0]
    collected_at = [0.0]
    # When each open connection was opened, by id of its driver connection.
    opened: dict[int, float] = {}

    def connected(dbapi_connection: Any, _record: Any) -> None:
        opened[id(dbapi_connection)] = time.time()

    def closed(dbapi_connection: Any, *_record: Any) -> None:
        opened.pop(id(dbapi_connection), None)

    def failed(context: ExceptionContext) -> None:
        if context.is_disconnect and sqlite_code_of(context.original_exception) is not None:
            discarded_at[0] = time.time()
            sync_engine.dispose()

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record.dbapi_connection is not None and record.starttime <= discarded_at[0]:
            record.invalidate()

    def connecting(*_args: Any) -> None:
        deadline = time.monotonic() + DISCARD_WAIT_S
        while any(at <= discarded_at[0] for at in opened.values()) or (
            time.time() - discarded_at[0] < DISCARD_SETTLE_S
        ):
            if time.monotonic() > deadline:
                break  # open it anyway: it fails as before, and is discarded in turn
            await_(asyncio.sleep(DISCARD_POLL_S))
        if collected_at[0] < discarded_at[0]:
            collected_at[0] = time.time()
            gc.collect()

    # After _discard_unusable_connections, which decides what is discarded.
    event.listen(sync_engine, "handle_error", failed)
    event.listen(sync_engine, "do_connect", connecting)
    pool = sync_engine.pool
    event.listen(pool, "connect", connected)
    event.listen(pool, "close", closed)
    event.listen(pool, "close_detached", closed)
    event.listen(pool, "checkin", checked_in)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The driver would BEGIN only at the first write, leaving the reads before it
    # outside the transaction; SQLAlchemy's "begin" event starts it instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # SQLite ignores foreign keys unless told per connection; WAL lets readers
        # run while one writer commits.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    except Exception:
        # SQLAlchemy drops a connection whose set-up failed without closing it: left
        # open, it keeps the file's shared state as it was (unopenable, read-only) for
        # every connection this process opens after it.
        cursor.close()
        dbapi_connection.close()
        raise
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
    # The driver's own error where a statement ran on it directly (resolvers/compiled).
    driver_error = error.orig if isinstance(error, DBAPIError) else error
    # SQLite: only the StatementClock interrupts statements. PostgreSQL: query_canceled,
    # whose message is in the server's language, so it is not looked at.
    return (
        getattr(driver_error, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT
        or getattr(driver_error, "sqlstate", None) == QUERY_CANCELED
    )


def is_unavailable(error: BaseException | None) -> bool:
    """Whether `error` says the database cannot serve now, rather than that the request
    is wrong: unreachable (refused, reset, closed, lost mid-statement, no connection free
    in the pool), shutting down, read-only, out of space, locked. Retrying later is the
    remedy. The statement timeout is not one of them (is_statement_timeout)."""
    seen: set[int] = set()
    # The error, then what it wraps (SQLAlchemy's error, the driver's, asyncpg's own).
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ThreadlineError):
            # Raised on purpose, it says what it means (RESUME_REQUIRED after an outage).
            return isinstance(error, Unavailable)
        if _says_unavailable(error):
            return True
        error = error.__cause__
    return False


def brief(error: BaseException | None) -> str:
    """An error's first line, for the log: a database error's next lines hold its
    statement and parameters."""
    return str(error).partition("\n")[0]


def _says_unavailable(error: BaseException) -> bool:
    # InternalClientError: asyncpg's protocol left in a state it cannot go on from
    # ("cannot switch to state ...; another operation is in progress"), as a connection
    # lost mid-statement leaves it.
    if isinstance(error, PoolTimeout | DisconnectionError | InternalClientError):
        return True
    # Only the OSErrors of reaching a server: another (a file not found, a timeout of
    # ours) is a fault, not an outage.
    if isinstance(error, ConnectionError | socket.gaierror) or (
        isinstance(error, OSError) and error.errno in UNREACHABLE_ERRNOS
    ):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    state = sqlstate_of(error)
    if state is not None and (state[:2] in UNAVAILABLE_CLASSES or state in UNAVAILABLE_STATES):
        return True
    return sqlite_code_of(error) in SQLITE_UNAVAILABLE


def sqlstate_of(error: BaseException | None) -> str | None:
    """A PostgreSQL error's SQLSTATE, None for another error."""
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def sqlite_code_of(error: BaseException | None) -> int | None:
    """A SQLite error's primary result code (an extended code keeps it in its low byte)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


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
    def from_settings(cls, settings: Settings) -> Database:
        """The database of `settings`, with their statement timeout and pool."""
        url = settings.database_url
        pool = {} if is_sqlite(url) else pool_arguments(settings)
        return cls.from_url(url, settings.statement_timeout_ms, **pool)

    @classmethod
    def from_url(cls, url: str, statement_timeout_ms: int = 0, **engine_options: Any) -> Database:
        """`statement_timeout_ms` bounds every statement (0: no limit); `engine_options`
        go to create_engine."""
        engine = create_engine(url, statement_timeout_ms, **engine_options)
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
