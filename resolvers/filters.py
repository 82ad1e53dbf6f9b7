"""SQL constructs whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    String,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement


class json_array_contains(ColumnElement[bool]):
    """True when the JSON array in `column` holds the string `value`."""

    # The value is not part of a cache key, so statements using this are not cached.
    inherit_cache = False
    type = Boolean()

    def __init__(self, column: Any, value: str) -> None:
        self.column = column
        self.value = value


@compiles(json_array_contains, "postgresql")
def _contains_postgresql(element: json_array_contains, compiler: Any, **kw: Any) -> str:
    # jsonb @> uses the GIN index a deployment may add on tags.
    value = cast(func.jsonb_build_array(literal(element.value)), JSONB)
    return str(compiler.process(element.column.op("@>")(value), **kw))


@compiles(json_array_contains, "sqlite")
def _contains_sqlite(element: json_array_contains, compiler: Any, **kw: Any) -> str:
    each = func.json_each(element.column).table_valued("value")
    match = exists(
        select(literal_column("1")).select_from(each).where(each.c.value == element.value)
    )
    return str(compiler.process(match, **kw))


class contains_folded(ColumnElement[bool]):
    """True when the text in `column` contains `value`, case ignored for all of Unicode.

    SQLite's lower() and LIKE fold ASCII letters only ("école" would not match
    "ÉCOLE"), so SQLite calls Python's casefold (see register_sqlite_functions).
    """

    # The value is not part of a cache key, so statements using this are not cached.
    inherit_cache = False
    type = Boolean()

    def __init__(self, column: Any, value: str) -> None:
        self.column = column
        self.value = value


LIKE_ESCAPE = "/"
# The SQLite function contains_folded calls, defined by register_sqlite_functions.
CASEFOLD = "threadline_casefold"


def like_pattern(value: str) -> str:
    """`%value%` with the wildcards inside `value` matching only themselves."""
    for special in (LIKE_ESCAPE, "%", "_"):
        value = value.replace(special, LIKE_ESCAPE + special)
    return f"%{value}%"


@compiles(contains_folded, "postgresql")
def _contains_folded_postgresql(element: contains_folded, compiler: Any, **kw: Any) -> str:
    # ILIKE folds case by the database's ctype: all of Unicode under a UTF-8 locale
    # (C.UTF-8 included); with plain C it would be ASCII only, as SQLite's lower().
    match = element.column.ilike(like_pattern(element.value), escape=LIKE_ESCAPE)
    return str(compiler.process(match, **kw))


@compiles(contains_folded, "sqlite")
def _contains_folded_sqlite(element: contains_folded, compiler: Any, **kw: Any) -> str:
    # instr() is a plain substring search: no wildcards to escape.
    folded = func.instr(getattr(func, CASEFOLD)(element.column), element.value.casefold())
    return str(compiler.process(folded > 0, **kw))


def _casefold(value: str | None) -> str | None:
    return None if value is None else str(value).casefold()


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Define the Python functions the SQLite spellings above call.

    SQLite keeps them per connection: call this from the engine's "connect" event.
    """
    dbapi_connection.create_function(CASEFOLD, 1, _casefold, deterministic=True)


class json_text_at(ColumnElement[str]):
    """The text of the value at `path` (object keys, outermost first) in a JSON column:
    strings as they are, true/false, numbers as the database writes them, null for
    nothing there. PostgreSQL's #>> and SQLite's json_extract agree on all but the
    spelling of some numbers (1.50 stays 1.50 on PostgreSQL, is 1.5 on SQLite)."""

    inherit_cache = False
    type = String()

    def __init__(self, column: Any, path: tuple[str, ...]) -> None:
        self.column = column
        self.path = path


@compiles(json_text_at, "postgresql")
def _json_text_postgresql(element: json_text_at, compiler: Any, **kw: Any) -> str:
    value = type_coerce(element.column, JSONB)[element.path].astext
    return str(compiler.process(value, **kw))


def sqlite_json_path(path: tuple[str, ...]) -> str:
    # Keys are quoted, so that "gen_ai.request.model" is one key, not three.
    return "$" + "".join(f'."{key}"' for key in path)


@compiles(json_text_at, "sqlite")
def _json_text_sqlite(element: json_text_at, compiler: Any, **kw: Any) -> str:
    path = sqlite_json_path(element.path)
    found = func.json_type(element.column, path)
    # json_extract gives SQL values: true is 1, which must read "true" as on PostgreSQL.
    text = case(
        (found == "true", literal("true")),
        (found == "false", literal("false")),
        else_=cast(func.json_extract(element.column, path), String),
    )
    return str(compiler.process(text, **kw))
