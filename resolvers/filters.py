"""SQL constructs whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, cast, exists, func, literal, literal_column, select
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
