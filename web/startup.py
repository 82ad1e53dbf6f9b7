"""Starting a server: settings that cannot work end in one line (the cause, then what to
do) rather than a traceback; the socket is bound before anything slow runs, and the URLs
are printed once uvicorn accepts connections, so that they are the last lines printed.

    sock = bind(settings.host, settings.port)        # StartupError when the port is taken
    asyncio.run(check_services(settings))            # the database, the broadcast backend
    AnnouncingServer(uvicorn.Config(app), "open http://...").run(sockets=[sock])
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn
from asyncpg.exceptions import (
    InvalidAuthorizationSpecificationError,
    InvalidCatalogNameError,
    InvalidPasswordError,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InvalidRequestError, NoSuchModuleError

from config import Settings
from resolvers.db import Database
from subscriptions.backends import create_broadcast

# Seconds a database or broadcast backend has to answer before start-up gives up on it.
CONNECT_TIMEOUT_S = 10.0
log = logging.getLogger("threadline")
DATABASE_URLS = "postgresql+asyncpg://user:pass@host:5432/db or sqlite+aiosqlite:///./file.db"


class StartupError(Exception):
    """A setting that cannot work: its message is one line, the cause and what to do."""


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the database is touched: a clash shows at once."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is in use (another server is running?): "
                "stop it, or set PORT to a free port"
            ) from None
        raise StartupError(f"cannot listen on {host}:{port} ({exc}): set HOST and PORT") from None


def open_database(settings: Settings) -> Database:
    """The settings' database (not connected yet); a URL no driver here takes is refused."""
    url = settings.database_url
    scheme = urlsplit(url).scheme
    if scheme in ("postgres", "postgresql"):
        raise StartupError(
            f"DATABASE_URL starts with {scheme}://, which has no async driver: "
            "write postgresql+asyncpg://user:pass@host:5432/db"
        )
    try:
        make_url(url).get_dialect()
        return Database.from_settings(settings)
    except ImportError as exc:
        # The driver may be there and a module it needs not (greenlet, without
        # sqlalchemy[asyncio]): name what is missing.
        raise StartupError(
            f"DATABASE_URL's driver {scheme or url!r} cannot be loaded: module "
            f"{_missing_module(exc)!r} is not installed here (pip install it)"
        ) from None
    except (ArgumentError, NoSuchModuleError, InvalidRequestError):
        raise StartupError(
            f"DATABASE_URL's driver {scheme or url!r} is not an async driver installed here: "
            f"use {DATABASE_URLS}"
        ) from None


async def check_database(database: Database) -> None:
    """One connection opened and closed; what stops it becomes a StartupError."""
    url = database.engine.url
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S), database.engine.connect():
            pass
    except Exception as exc:
        if _storage_fault(exc, url.database):
            log.warning(
                "the SQLite database %s cannot be opened now (%s): serving UNAVAILABLE "
                "until it can",
                url.database,
                _one_line(exc),
            )
            return
        log.debug("the database check failed", exc_info=True)
        raise StartupError(_database_problem(exc, url.database, url.host, url.port)) from None


def _storage_fault(exc: Exception, name: str | None) -> bool:
    """A SQLite file that exists but cannot be opened now (a read-only mount, a full
    disk) is no setting to fix: the server rides it out, answering UNAVAILABLE until it
    clears, as it does when that happens while it runs."""
    exists = name is not None and Path(name).is_file()
    return exists and any(isinstance(cause, sqlite3.OperationalError) for cause in _chain(exc))


def _database_problem(exc: Exception, name: str | None, host: str | None, port: int | None) -> str:
    where = f"{host}:{port or 5432}"
    for cause in _chain(exc):
        if isinstance(cause, InvalidCatalogNameError):
            return (
                f'database "{name}" does not exist on {where}: create it '
                f"(createdb -h {host} -U <user> {name}) or point DATABASE_URL at another"
            )
        if isinstance(cause, InvalidPasswordError | InvalidAuthorizationSpecificationError):
            return f"the database at {where} refused the login ({cause}): fix DATABASE_URL"
        if isinstance(cause, sqlite3.OperationalError):
            return (
                f"cannot open the SQLite database {name} ({cause}): its directory must "
                "exist and be writable; fix DATABASE_URL"
            )
        if isinstance(cause, TimeoutError):
            return (
                f"the database at {where} did not answer within {CONNECT_TIMEOUT_S:g} s: "
                "check that it is up and reachable, or fix DATABASE_URL"
            )
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the database's host {host} ({cause.strerror}): fix DATABASE_URL"
        if isinstance(cause, OSError):
            return (
                f"cannot reach the database at {where} ({cause.strerror or cause}): "
                "start PostgreSQL there, or fix DATABASE_URL"
            )
    return f"cannot connect to the database ({_one_line(exc)}): fix DATABASE_URL"


async def check_broadcast(url: str) -> None:
    """The broadcast backend connects (and is let go): Redis or PostgreSQL is up."""
    try:
        broadcast = create_broadcast(url)
    except ValueError as exc:
        raise StartupError(f"BROADCAST_URL: {exc}") from None
    where = urlsplit(url).netloc.rpartition("@")[2]
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await broadcast.connect()
    except Exception as exc:
        log.debug("the broadcast check failed", exc_info=True)
        raise StartupError(
            f"cannot reach the broadcast backend at {where} ({_one_line(exc)}): start it, "
            "or set BROADCAST_URL (memory:// for a single process)"
        ) from None
    await broadcast.disconnect()


async def check_services(settings: Settings) -> None:
    database = open_database(settings)
    try:
        await check_database(database)
    finally:
        await database.engine.dispose()
    await check_broadcast(settings.broadcast_url)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes, outermost first (SQLAlchemy wraps the driver's):
    the explicit cause, else what was being handled when it was raised, unless `raise
    ... from None` disowned it (as Python's traceback printing does)."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)


def _missing_module(exc: ImportError) -> str:
    """The module an import failed on (SQLAlchemy re-raises greenlet's with no name)."""
    named = (cause.name for cause in _chain(exc) if isinstance(cause, ImportError) and cause.name)
    return next(named, _one_line(exc))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, printing `announcement` once it accepts connections: after its
    own start-up lines, so that a server that never listens shows no URL."""

    def __init__(self, config: uvicorn.Config, announcement: str) -> None:
        super().__init__(config)
        self.announcement = announcement

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        print(self.announcement, flush=True)
