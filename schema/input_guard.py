"""One check, before anything runs, that every input value can be stored as given.

A NUL character, a lone UTF-16 surrogate or a non-finite number would be stored by
one database and refused by the other (or by its driver, as a server fault), and
they can arrive anywhere: in any variable, nested in any JSON value, or written
into the document itself (a "\\u0000" escape; a 1e400 literal, which graphql-core
reads as infinity for Float and JSON alike, as it reads a 400-digit integer for
Float). Checking them all here, once, covers every resolver and future input type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FloatValueNode,
    GraphQLError,
    IntValueNode,
    Node,
    StringValueNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension

from resolvers import validation
from resolvers.errors import BadInput


class _Literals(Visitor):
    """Collects the values written into a document, escapes decoded."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[Node, Any]] = []

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        self.found.append((node, node.value))

    # As graphql-core reads a number for Float and JSON: float(text), so an
    # integer literal past the largest float is infinite too.
    def enter_float_value(self, node: FloatValueNode, *_args: Any) -> None:
        self.found.append((node, float(node.value)))

    def enter_int_value(self, node: IntValueNode, *_args: Any) -> None:
        self.found.append((node, float(node.value)))


def literals(document: DocumentNode | None) -> list[tuple[Node, Any]]:
    collector = _Literals()
    if document is not None:
        visit(document, collector)
    return collector.found


def inputs(
    variables: dict[str, Any] | None, document: DocumentNode | None
) -> Iterator[tuple[str, Any, Node | None]]:
    """Every input value: (how to name it, the value, where it is written in the document)."""
    yield "variables", variables or {}, None
    for node, value in literals(document):
        yield "a value in the document", value, node


def first_problem(
    variables: dict[str, Any] | None, document: DocumentNode | None
) -> GraphQLError | None:
    for where, value, node in inputs(variables, document):
        try:
            validation.storable(where, value)
        except BadInput as error:
            return GraphQLError(error.message, node, original_error=error)
    return None


class InputGuard(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        problem = first_problem(context.variables, context.graphql_document)
        if problem is not None:
            # Set before validation, Strawberry takes these as the validation result
            # and stops: no resolver runs, nothing is written.
            context.pre_execution_errors = [problem]
        yield
