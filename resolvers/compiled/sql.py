"""PostgreSQL expressions writing values as the GraphQL layer serializes them.

Each one renders a column into JSON text that json.loads turns into the very value the
normal path would have put in its result: global ids, DateTimes, Floats.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, Text, and_, case, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.sql import ColumnElement

# GraphQL names (response keys, type names): safe to write into the SQL as literals,
# which keeps the statement's parameters to the values that vary.
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
# PostgreSQL functions take at most 100 arguments: 50 key/value pairs per object.
MAX_KEYS = 50
EMPTY_LIST: ColumnElement[Any] = literal_column("'[]'::json")
# Python's isoformat of an aware UTC datetime: microseconds only when not zero.
ISO_FORMAT: ColumnElement[Any] = literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US'""")


class Unsupported(Exception):
    """The operation holds something the compiled path does not do: the normal path runs it."""


def name_literal(name: str) -> Any:
    if not NAME.fullmatch(name):
        raise Unsupported(f"not a GraphQL name: {name!r}")
    return literal_column(f"'{name}'", Text)


def json_object(pairs: Sequence[tuple[str, Any]]) -> Any:
    if len(pairs) > MAX_KEYS:
        raise Unsupported(f"{len(pairs)} fields in one selection")
    arguments = [part for key, value in pairs for part in (name_literal(key), value)]
    return func.json_build_object(*arguments)


def global_id(type_name: str, column: Any) -> Any:
    """base64("Type:uuid") as resolvers.ids.to_global_id writes it. PostgreSQL breaks
    base64 lines at 76 characters; the longest id ("ComponentVersion:" and a UUID,
    53 bytes) encodes to 72."""
    text = name_literal(type_name).op("||")(literal_column("':'")).op("||")(cast(column, Text))
    return func.encode(func.convert_to(text, literal_column("'UTF8'")), literal_column("'base64'"))


def iso_datetime(column: Any) -> Any:
    """A timestamptz as UTCDateTime serializes it: whatever the session's TimeZone."""
    written = func.to_char(func.timezone(literal_column("'UTC'"), column), ISO_FORMAT)
    without_zero_micros = func.replace(written, literal_column("'.000000'"), literal_column("''"))
    return without_zero_micros.op("||")(literal_column("'+00:00'"))


def json_float(column: Any) -> Any:
    """A double as a JSON number json.loads reads as a float, as the normal path's value is.

    PostgreSQL writes integral doubles without a fraction (3, not 3.0), which would read
    as an int: those get ".0"; at 1e15 and beyond it writes an exponent (1e+15) already.
    Other values are written shortest-exact, so they read back as the same double.
    """
    integral = and_(column == func.trunc(column), func.abs(column) < literal_column("1e15"))
    with_fraction = cast(cast(func.to_json(column), Text).op("||")(literal_column("'.0'")), JSON)
    return case((integral, with_fraction), else_=func.to_json(column))


def exact_floats(result: Any) -> Any:
    """`result`, or NULL (for the normal path to answer) where the session writes doubles
    rounded: json_float relies on extra_float_digits >= 1, PostgreSQL's default since 12."""
    digits = cast(func.current_setting(literal_column("'extra_float_digits'")), Integer)
    # A literal, not a parameter: PostgreSQL may plan a statement with parameters anew
    # at each execution (custom plans).
    return case((digits >= literal_column("1"), result), else_=None)


def data_statement(data: Any) -> Any:
    """The statement answering a whole operation: its `data` object as JSON text."""
    return select(exact_floats(cast(data, Text)))


def one_json(value: ColumnElement[Any], rows: Any) -> Any:
    """The JSON of the row in `rows` (at most one), or NULL when there is none."""
    return select(value).select_from(rows).scalar_subquery()


def list_json(value: ColumnElement[Any], rows: Any) -> Any:
    """The JSON array of `value` over `rows`, in their order: `rows` is a subquery with
    its ORDER BY (rows.limited), and an aggregate over nothing but one subquery takes its
    rows as they come. An ORDER BY inside json_agg would sort each list again: PostgreSQL
    15 sorts an aggregate's input even when it arrives sorted, and the conversation page
    has some 260 lists (a span's component versions, a message's tool calls...)."""
    aggregated = func.json_agg(value)
    return select(func.coalesce(aggregated, EMPTY_LIST)).select_from(rows).scalar_subquery()
