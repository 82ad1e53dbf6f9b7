"""Writing many rows at once: binary COPY on PostgreSQL, multi-row INSERTs on SQLite.

An ingestion batch writes thousands of rows (spans, messages, events). Through
SQLAlchemy's executemany each value passes its type's bind processor and each
statement carries thousands of parameters to render and parse; by profile that was
most of a batch's time on PostgreSQL. COPY sends the rows as they are.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import Money, to_nanos


def dialect_of(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


async def insert_rows(
    session: AsyncSession,
    model: Any,
    rows: list[dict[str, Any]],
    *,
    ignore_duplicates: bool = False,
    returning: Any = None,
) -> list[Any]:
    """INSERT the rows (keyed by column name) as one executemany, which SQLAlchemy sends
    as multi-row INSERTs ("insertmanyvalues") from one cached statement; with
    `ignore_duplicates`, ON CONFLICT DO NOTHING. The `returning` column of rows written,
    in no particular order: asking SQLAlchemy to sort them by parameter order, with ON
    CONFLICT DO NOTHING, makes it send the rows one statement each."""
    if not rows:
        return []
    insert = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    statement: Any = insert(model.__table__)
    if ignore_duplicates:
        statement = statement.on_conflict_do_nothing()
    if returning is None:
        await session.exec(statement, params=rows)
        return []
    result = await session.exec(statement.returning(returning), params=rows)
    return list(result.scalars())


async def write_rows(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT the rows of the model's table (keyed by column name, all with the same
    keys); with COPY on PostgreSQL."""
    if not rows:
        return
    table: sa.Table = model.__table__
    if dialect_of(session) == "postgresql":
        await _copy(session, table, rows)
    else:
        await session.exec(sa.insert(table), params=rows)


async def write_numbered_rows(
    session: AsyncSession, model: Any, rows: list[dict[str, Any]]
) -> list[int]:
    """write_rows for a table whose integer `id` the database numbers: the ids, in row
    order. On PostgreSQL they are taken from the column's sequence first (COPY returns
    nothing), in one statement, ascending as INSERT ... RETURNING would give them."""
    if not rows:
        return []
    table: sa.Table = model.__table__
    if dialect_of(session) != "postgresql":
        inserted = await session.exec(
            sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), params=rows
        )
        return list(inserted.scalars())
    series = sa.func.generate_series(1, len(rows)).table_valued("n")
    sequence = sa.func.pg_get_serial_sequence(table.name, "id")
    taken = await session.exec(select(sa.func.nextval(sequence)).select_from(series))
    ids: list[int] = list(taken)
    await _copy(session, table, rows, ids)
    return ids


@dataclass(frozen=True)
class _Column:
    name: str
    # Python value -> what asyncpg's binary codec of the column takes (None: as is).
    convert: Callable[[Any], Any] | None
    # The column's default (SQLModel's default or default_factory), for rows without it.
    default: Callable[[], Any] | None


def _enum_name(value: Any) -> Any:
    # Non-native sa.Enum columns store the member's name.
    return value.name if isinstance(value, Enum) else value


def _json(value: Any) -> str:
    # What SQLAlchemy's JSON type sends (json.dumps; None becomes JSON null). Most
    # values of a batch (events' data, messages' parts) are empty: no encoder for them.
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    return json.dumps(value)


def _json_or_null(value: Any) -> str | None:
    # A sparse JSON column (models.base.SPARSE_JSON_TYPE): None is SQL NULL.
    return None if value is None else _json(value)


def _constant(value: Any) -> Any:
    return value


def _converted(convert: Callable[[Any], Any], make: Callable[[], Any]) -> Any:
    return convert(make())


@functools.cache
def _columns(table: sa.Table) -> dict[str, _Column]:
    found = {}
    for column in table.columns:
        convert: Callable[[Any], Any] | None = None
        if isinstance(column.type, sa.JSON):
            convert = _json_or_null if column.type.none_as_null else _json
        elif isinstance(column.type, sa.Enum):
            convert = _enum_name
        elif isinstance(column.type, Money):
            convert = to_nanos
        default = column.default
        make: Callable[[], Any] | None = None
        if isinstance(default, sa.ColumnDefault) and default.is_callable:
            # SQLAlchemy wraps a zero-argument factory to take an execution context.
            make = functools.partial(default.arg, None)
        elif isinstance(default, sa.ColumnDefault) and default.is_scalar:
            make = functools.partial(_constant, default.arg)
        if make is not None and convert is not None:
            # As the codec takes it (a Money column's default is a Decimal).
            make = functools.partial(_converted, convert, make)
        found[column.name] = _Column(column.name, convert, make)
    return found


async def _copy(
    session: AsyncSession,
    table: sa.Table,
    rows: list[dict[str, Any]],
    ids: list[int] | None = None,
) -> None:
    """COPY the rows into the table within the session's transaction, filling in the
    column defaults an INSERT through SQLAlchemy would; `ids` go to the `id` column."""
    columns = _columns(table)
    given = [columns[name] for name in rows[0]]
    defaults = [c for name, c in columns.items() if name not in rows[0] and c.default]
    names = [c.name for c in given] + [c.name for c in defaults]
    # Rows as tuples in C (itemgetter), then only the JSON and enum values converted.
    values_of = operator.itemgetter(*(c.name for c in given))
    converted = [(index, c.convert) for index, c in enumerate(given) if c.convert]
    makers = [c.default for c in defaults if c.default]
    records: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(values_of(row))
        for index, convert in converted:
            values[index] = convert(values[index])
        values.extend(make() for make in makers)
        records.append(tuple(values))
    if ids is not None:
        names.append("id")
        records = [(*record, row_id) for record, row_id in zip(records, ids, strict=True)]
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    # The COPY must be part of the session's transaction, which SQLAlchemy begins on
    # the driver lazily, at its first statement (ingestion reads before it writes).
    assert driver.is_in_transaction(), "COPY before any statement of the transaction"
    try:
        await driver.copy_records_to_table(table.name, records=records, columns=names)
    except asyncpg.PostgresError as exc:
        # As SQLAlchemy reports a failed INSERT: a unique violation is a CONFLICT, a
        # statement timeout a 503 (resolvers.db.is_statement_timeout reads sqlstate).
        statement = f"COPY {table.name}"
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            raise IntegrityError(statement, None, exc) from exc
        raise DBAPIError(statement, None, exc) from exc
