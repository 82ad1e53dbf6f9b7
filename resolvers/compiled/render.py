"""Scalar fields copied from a column, written as their GraphQL type serializes them."""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLField,
    get_named_type,
    get_nullable_type,
    is_enum_type,
    is_list_type,
    is_non_null_type,
)
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    cast,
    inspect,
    literal_column,
)
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION
from sqlalchemy.types import TypeDecorator

import models
from models.base import Money
from resolvers.compiled.sql import Unsupported, global_id, iso_datetime, json_float

# The object types whose scalar fields are their table's columns (schema.node.from_row);
# each is named after its table model in `models`.
TABLE_TYPES = frozenset(
    {"Conversation", "Message", "ToolCall", "Plan", "PlanStep", "Trace", "Span", "ComponentVersion"}
)


def _sql_type(found: Any) -> Any:
    return found.impl_instance if isinstance(found, TypeDecorator) else found


def _rendered(output: Any, column_type: Any, value: Any) -> Any:
    """The column written as a field of type `output` would be, if its SQL type fits."""
    named = get_named_type(output).name
    if isinstance(column_type, Money):
        # USD as float(Decimal) gives it: nanos and 1e9 are exact doubles, and IEEE
        # division rounds the exact quotient once, as the conversion of the decimal does.
        usd = cast(value, DOUBLE_PRECISION) / literal_column("1e9::float8")
        return json_float(usd) if named == "Float" else None
    sql_type = _sql_type(column_type)
    if is_list_type(output) or named == "JSON":
        return value if isinstance(sql_type, JSON) else None
    if is_enum_type(output):
        # Stored by name (models.base.enum_field), which is how GraphQL writes them.
        return value if getattr(sql_type, "enum_class", None) is not None else None
    fits = {
        "String": isinstance(sql_type, String),
        "Int": isinstance(sql_type, Integer) and not isinstance(sql_type, BigInteger),
        "Long": isinstance(sql_type, Integer),
        "Boolean": isinstance(sql_type, Boolean),
        "Float": isinstance(sql_type, Float),
        "DateTime": isinstance(sql_type, DateTime) and bool(sql_type.timezone),
    }
    if not fits.get(named, False):
        return None
    if named == "Float":
        return json_float(value)
    return iso_datetime(value) if named == "DateTime" else value


def scalar(
    type_name: str, name: str, field: GraphQLField, python_name: str | None, row: Any
) -> Any:
    """A field copied from its row's column (schema.node.from_row), written as its
    GraphQL type serializes it; `python_name` is the attribute it copies (None: it has a
    resolver). The column's type and nullability must be what the field's type expects:
    no value can then be one the normal path would refuse."""
    if python_name is None or field.args:
        raise Unsupported(f"{type_name}.{name} has a resolver")
    attribute = "meta" if python_name == "metadata" else python_name
    mapped = inspect(getattr(models, type_name)).columns
    if attribute not in mapped:
        raise Unsupported(f"{type_name}.{name} is not a column")
    column = mapped[attribute]
    if is_non_null_type(field.type) and column.nullable:
        raise Unsupported(f"{type_name}.{name} is non-null over a nullable column")
    value = row.c[column.name]
    if attribute == "id":
        return global_id(type_name, value)
    written = _rendered(get_nullable_type(field.type), column.type, value)
    if written is not None:
        return written
    raise Unsupported(f"{type_name}.{name}: no exact rendering of its column")
