"""Engine and session factories: the only place that knows how to connect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as RowSession
from sqlmodel.ext.asyncio.session import AsyncSession

from resolvers.filters import register_sqlite_functions

SessionFactory = async_sessionmaker[AsyncSession]
RowSessionFactory = async_sessionmaker[RowSession]
# Execution option marking connections that will write (see _begin_sqlite).
WRITES = "threadline_writes"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        # Writers wait for each other instead of failing with "database is locked".
        kwargs.setdefault("connect_args", {"timeout": 30})
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
    return engine


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


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions for mutations: they begin as writers."""
    writer = engine.execution_options(**{WRITES: True})
    return async_sessionmaker(writer, class_=AsyncSession, expire_on_commit=False)


@dataclass(frozen=True)
class Database:
    """An engine and its two kinds of session; nothing connects until first use.

    Writes use SQLModel sessions (`exec`); the loaders use plain SQLAlchemy
    sessions, whose `execute` always yields row tuples, whatever is selected.
    """

    engine: AsyncEngine
    sessions: SessionFactory
    row_sessions: RowSessionFactory

    @classmethod
    def from_url(cls, url: str) -> Database:
        engine = create_engine(url)
        return cls(
            engine=engine,
            sessions=create_session_factory(engine),
            row_sessions=async_sessionmaker(engine, class_=RowSession, expire_on_commit=False),
        )
