"""A plan's statement run on a pooled connection's driver (asyncpg), not through
SQLAlchemy's Connection: compiled to SQL once per plan, its constant parameters
(the principal's identities) converted once by their types' bind processors.

SQLAlchemy's execute path (a Connection, its events, the compiled-statement cache
lookup, the result) cost some 150 us of CPU per request against asyncpg's own for
this one statement of one column and row, the list page's whole server time being
about 1 ms. The pool is still SQLAlchemy's: checkout and checkin run its events
(resolvers/db.py pings a connection idle too long), and a connection an error leaves
unusable is discarded, as resolvers.db's handle_error hook does on the engine's path.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from asyncpg import PostgresError
from asyncpg.exceptions import InternalClientError
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from resolvers.db import DISCARDED_CLASSES, DISCARDED_STATES


@dataclass(frozen=True)
class DriverStatement:
    """SQL in the driver's placeholders ($1, $2...); per placeholder, the name of the
    conversation id it takes per request, or None and its constant value."""

    sql: str
    binds: tuple[tuple[str | None, Any], ...]

    def arguments(self, ids: dict[str, uuid.UUID]) -> list[Any]:
        return [value if name is None else ids[name] for name, value in self.binds]


def driver_statement(statement: Any, dialect: Dialect, ids: frozenset[str]) -> DriverStatement:
    """`statement` as `dialect` sends it; `ids` are its per-request bind names."""
    # IN lists (a principal's identities) expanded into their placeholders now, as the
    # engine's path would at each execution.
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    # An IN list's elements have the processors of their list (its expanded state's).
    expanded = compiled._post_compile_expanded_state
    processors = {**compiled._bind_processors, **(expanded.processors if expanded else {})}
    binds: list[tuple[str | None, Any]] = []
    for name in compiled.positiontup or ():
        if name in ids:
            binds.append((name, None))
            continue
        value = compiled.params[name]
        processor = processors.get(name)
        binds.append((None, value if processor is None else processor(value)))
    return DriverStatement(compiled.string, tuple(binds))


async def fetch_value(engine: AsyncEngine, statement: DriverStatement, arguments: list[Any]) -> Any:
    """The first column of the first row, read on a connection from `engine`'s pool
    outside a transaction (as the engine of reads runs, in AUTOCOMMIT)."""
    # In a greenlet: checkout may connect, or ping a connection idle too long.
    pooled = await greenlet_spawn(engine.sync_engine.raw_connection)
    connection: Any = pooled.driver_connection  # asyncpg's
    try:
        return await connection.fetchval(statement.sql, *arguments)
    except asyncio.CancelledError:
        # Cancelled mid-statement (the client left): the protocol may be mid-message.
        await greenlet_spawn(pooled.invalidate)
        raise
    except Exception as exc:
        if lost(exc, connection):
            # As the engine's path does on a disconnect: this connection and every one
            # opened before it (the server may have restarted) are replaced.
            await greenlet_spawn(engine.sync_engine.pool._invalidate, pooled, exc)
            # What the engine's path raises then: an outage, not a fault (resolvers.db).
            raise DisconnectionError(f"a pooled connection was lost: {exc}") from exc
        raise
    finally:
        # In a greenlet too: checkin closes a connection past the pool's size.
        await greenlet_spawn(pooled.close)


def lost(error: Exception, connection: Any) -> bool:
    """Whether the connection cannot serve another statement: closed, its protocol in a
    state it cannot go on from, or an error of the server that resolvers.db discards
    connections for."""
    if isinstance(error, PostgresError):
        state = error.sqlstate
        return state is not None and (state[:2] in DISCARDED_CLASSES or state in DISCARDED_STATES)
    return bool(connection.is_closed()) or isinstance(error, InternalClientError | OSError)
