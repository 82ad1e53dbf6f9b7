"""Scalars: JSON (typed as Any for mypy: a client may send any JSON value), DateTime and
Long (64-bit integers: token totals and counts that pass GraphQL's 32-bit Int)."""

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NewType

import strawberry
from graphql import (
    GraphQLError,
    IntValueNode,
    StringValueNode,
    ValueNode,
    print_ast,
)
from strawberry.scalars import JSON

from resolvers.validation import parse_datetime

if TYPE_CHECKING:
    JSONValue = Any
    # A plain int to mypy; at run time a type of its own, which build_schema maps to LONG.
    Long = int
else:
    JSONValue = JSON
    Long = NewType("Long", int)

__all__ = [
    "EMPTY_OBJECT",
    "LONG",
    "JSONValue",
    "Long",
    "UTCDateTime",
    "json_object",
    "parse_datetime",
]

# A JSON object input that may be left out. Not `JSON! = {}`: graphql-js's printSchema
# (codegen, schema registries, diff tools) cannot print an object default of a custom
# scalar ("Cannot convert value to AST: {}"); the default is applied by json_object.
EMPTY_OBJECT = "A JSON object; null or left out: {}."

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def parse_datetime_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> datetime:
    """A DateTime written in the document.

    graphql-core reports a GraphQLError raised here as a validation error at the
    literal; any other exception would reach the client as a server fault.
    """
    if not isinstance(node, StringValueNode):
        raise GraphQLError(f"DateTime cannot represent a non-string value: {print_ast(node)}", node)
    try:
        return parse_datetime(node.value)
    except ValueError as error:
        raise GraphQLError(f"DateTime cannot represent {print_ast(node)}: {error}", node) from None


UTCDateTime = strawberry.scalar(
    name="DateTime",
    description="ISO 8601 date-time; without an offset it is read as UTC.",
    serialize=lambda value: value.isoformat(),
    parse_value=parse_datetime,
    parse_literal=parse_datetime_literal,
)


def _long(value: Any) -> int | None:
    """`value` as a 64-bit integer, or None. Whole floats pass, as they do for Int
    (JSON `1e3` is 1000); SUM over BIGINT is a Decimal on PostgreSQL."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        whole = int(value)
    except (OverflowError, ValueError):  # infinite, not a number
        return None
    return whole if whole == value and LONG_MIN <= whole <= LONG_MAX else None


def coerce_long(value: Any) -> int:
    """A Long to write in a response, or sent as a variable."""
    found = _long(value)
    if found is None:
        raise GraphQLError(f"Long cannot represent {value!r}: not a 64-bit integer")
    return found


def parse_long_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> int:
    """A Long written in the document (reported at the literal, as parse_datetime_literal)."""
    if isinstance(node, IntValueNode):
        found = _long(int(node.value))
        if found is not None:
            return found
    raise GraphQLError(f"Long cannot represent {print_ast(node)}: not a 64-bit integer", node)


LONG = strawberry.scalar(
    name="Long",
    description="A 64-bit signed integer, written as a JSON number: totals and counts that "
    "can pass Int's 2^31 - 1. Clients that read JSON numbers as doubles (JavaScript) read "
    "values up to 2^53 - 1 exactly; the server keeps each conversation's and trace's token "
    "totals within that, and only a sum over many of them could pass it (then its digits "
    "are still exact in the response, for a parser that keeps big integers).",
    serialize=coerce_long,
    parse_value=coerce_long,
    parse_literal=parse_long_literal,
)


def json_object(value: JSONValue | None) -> JSONValue:
    """An EMPTY_OBJECT input's value: {} where it was null or left out."""
    return {} if value is None else value
