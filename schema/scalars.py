"""Scalars: JSON (typed as Any for mypy: a client may send any JSON value) and DateTime."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import GraphQLError, StringValueNode, ValueNode, print_ast
from strawberry.scalars import JSON

from resolvers.validation import parse_datetime

if TYPE_CHECKING:
    JSONValue = Any
else:
    JSONValue = JSON

__all__ = ["JSONValue", "UTCDateTime", "parse_datetime"]


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
