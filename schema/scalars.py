"""Scalars: JSON (typed as Any for mypy: a client may send any JSON value) and DateTime."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import (
    BooleanValueNode,
    ConstListValueNode,
    ConstObjectFieldNode,
    ConstObjectValueNode,
    ConstValueNode,
    FloatValueNode,
    GraphQLArgument,
    GraphQLDefaultInput,
    GraphQLError,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    IntValueNode,
    NameNode,
    NullValueNode,
    StringValueNode,
    ValueNode,
    print_ast,
)
from strawberry.scalars import JSON

from resolvers.validation import parse_datetime

if TYPE_CHECKING:
    JSONValue = Any
else:
    JSONValue = JSON

__all__ = ["JSONValue", "UTCDateTime", "literal_json_defaults", "parse_datetime"]


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


def json_literal(value: Any) -> ConstValueNode:
    """A JSON value written as a GraphQL literal."""
    if isinstance(value, dict):
        fields = (
            ConstObjectFieldNode(name=NameNode(value=key), value=json_literal(item))
            for key, item in value.items()
        )
        return ConstObjectValueNode(fields=tuple(fields))
    if isinstance(value, list):
        return ConstListValueNode(values=tuple(json_literal(item) for item in value))
    if value is None:
        return NullValueNode()
    if isinstance(value, bool):
        return BooleanValueNode(value=value)
    if isinstance(value, int):
        return IntValueNode(value=str(value))
    if isinstance(value, float):
        return FloatValueNode(value=repr(value))
    return StringValueNode(value=str(value))


def literal_json_defaults(schema: GraphQLSchema) -> None:
    """Give each JSON object default (`metadata: JSON! = {}`) its literal.

    Introspection prints a default through the scalar's serializer, which for JSON
    returns the object itself, not a literal: GraphiQL's introspection query failed
    with a server error at each such `defaultValue`. A default given as a literal is
    printed as it is, and coerces to the same value.
    """
    inputs: list[GraphQLArgument | GraphQLInputField] = []
    for named in schema.type_map.values():
        if isinstance(named, GraphQLInputObjectType):
            inputs.extend(named.fields.values())
        elif isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            inputs.extend(arg for field in named.fields.values() for arg in field.args.values())
    for value in inputs:
        if value.default is None and isinstance(value.default_value, dict):
            value.default = GraphQLDefaultInput(literal=json_literal(value.default_value))
