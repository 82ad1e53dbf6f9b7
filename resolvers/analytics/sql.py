"""SQL pieces of the aggregates that must give the same numbers on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String, bindparam, case, cast, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

# The percentiles every aggregate reports.
PERCENTILES = (50, 95, 99)


def written_in(value: Any) -> Any:
    """`value` (a list or tuple: for IN) written into the statement, not bound: asyncpg
    prepares statements, and after five runs PostgreSQL may switch to a plan made for
    any values, which cannot tell a rare filter value from a common one."""
    return bindparam(None, value, expanding=isinstance(value, list | tuple), literal_execute=True)


def nearest_rank(p: int, count: Any) -> Any:
    """The rank of the p-th percentile of `count` sorted values, by the nearest-rank
    definition: ceil(p/100 * count), in integer arithmetic (`//` floors on both
    databases), so the value is one of the data, identical on SQLite and PostgreSQL.
    PostgreSQL's percentile_cont interpolates, and SQLite has no percentile at all."""
    return (count * p + 99) // 100


def percentile_columns(value: Any, partition: list[Any]) -> tuple[Any, Any]:
    """Window columns to select beside `value`: its rank among the non-null values of
    its partition (nulls ranked after them) and how many non-null values there are."""
    rank = func.row_number().over(partition_by=partition or None, order_by=value.asc().nulls_last())
    return rank, func.count(value).over(partition_by=partition or None)


def percentile(p: int, value: Any, rank: Any, count: Any) -> Any:
    """An aggregate over rows carrying percentile_columns: the value at the p-th
    percentile's rank (null for a group without values)."""
    return func.max(case((rank == nearest_rank(p, count), value)))


class utc_period(ColumnElement[str]):
    """The start of the UTC day or hour a timestamp falls in, as ISO 8601 text."""

    # Cacheable: compiling a usage statement anew took 30 ms at every request.
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("unit", InternalTraversal.dp_string),
    ]
    type = String()

    def __init__(self, column: Any, unit: str) -> None:
        self.column = column
        self.unit = unit


@compiles(utc_period, "postgresql")
def _period_postgresql(element: utc_period, compiler: Any, **kw: Any) -> str:
    pattern = 'YYYY-MM-DD"T00:00:00Z"' if element.unit == "day" else 'YYYY-MM-DD"T"HH24":00:00Z"'
    utc = func.timezone("UTC", element.column)
    return str(compiler.process(func.to_char(utc, pattern), **kw))


@compiles(utc_period, "sqlite")
def _period_sqlite(element: utc_period, compiler: Any, **kw: Any) -> str:
    # SQLite keeps UTC timestamps as text; strftime reads them as they are.
    pattern = "%Y-%m-%dT00:00:00Z" if element.unit == "day" else "%Y-%m-%dT%H:00:00Z"
    return str(compiler.process(func.strftime(pattern, element.column), **kw))


class epoch_ms(ColumnElement[float]):
    """A timestamp as milliseconds since 1970 (a float), so that intervals are plain
    arithmetic on both databases. SQLite's date functions resolve milliseconds, so the
    value is rounded to whole milliseconds there; PostgreSQL keeps microseconds."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]
    type = Float()

    def __init__(self, column: Any) -> None:
        self.column = column


@compiles(epoch_ms, "postgresql")
def _epoch_postgresql(element: epoch_ms, compiler: Any, **kw: Any) -> str:
    seconds = cast(func.extract("epoch", element.column), Float)
    return str(compiler.process(seconds * 1000, **kw))


@compiles(epoch_ms, "sqlite")
def _epoch_sqlite(element: epoch_ms, compiler: Any, **kw: Any) -> str:
    # 2440587.5 is the Julian day of 1970-01-01T00:00Z.
    days = func.julianday(element.column) - 2440587.5
    return str(compiler.process(func.round(days * 86_400_000), **kw))
