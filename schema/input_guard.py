"""One check, before anything runs, that every input value can be stored as given.

A NUL character, a lone UTF-16 surrogate or a non-finite number would be stored by
one database and refused by the other (or by its driver, as a server fault), and
they can arrive anywhere: in any variable, nested in any JSON value, or written
into the document itself (a "\\u0000" escape; a 1e400 literal, which graphql-core
reads as infinity for Float and JSON alike, as it reads a 400-digit integer for
Float). Checking them all here, once, covers every resolver and future input type.

So it is with identifiers (String arguments and input fields named `...Id`, or a
key, tool or profile name): their columns are indexed, and PostgreSQL refuses an
index entry past a few kilobytes, which SQLite keeps. They are found by type, the
document walked with the schema, so a JSON value's key of the same name is not one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    BREAK,
    ArgumentNode,
    DocumentNode,
    FloatValueNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLSchema,
    IntValueNode,
    ListValueNode,
    Node,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    ValueNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    value_from_ast_untyped,
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


# --- Identifiers ---------------------------------------------------------------------

IDENTIFIER_NAMES = frozenset({"key", "componentKey", "toolName", "profileName"})


def is_identifier(name: str, type_: GraphQLInputType | None) -> bool:
    named = get_named_type(type_) if type_ is not None else None
    return (
        named is not None
        and named.name == "String"
        and (name.endswith("Id") or name in IDENTIFIER_NAMES)
    )


def identifier_values(value: Any) -> Iterator[str]:
    """The strings of an identifier's value: itself, or the items of a list of them."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            yield item


def check_variable(name: str, value: Any, type_: GraphQLInputType) -> None:
    """Check the identifiers inside a variable's value, walked along its input type."""
    pending = [(name, value, type_)]
    while pending:
        path, item, item_type = pending.pop()
        nullable = get_nullable_type(item_type)
        if isinstance(nullable, GraphQLList):
            # A single value stands for a list of one.
            items = item if isinstance(item, list) else [item]
            pending.extend((f"{path}[{i}]", v, nullable.of_type) for i, v in enumerate(items))
        elif isinstance(nullable, GraphQLInputObjectType) and isinstance(item, dict):
            for field_name, field in nullable.fields.items():
                if field_name not in item:
                    continue
                field_path = f"{path}.{field_name}"
                if is_identifier(field_name, field.type):
                    for text in identifier_values(item[field_name]):
                        validation.identifier(f"`{field_path}`", text)
                else:
                    pending.append((field_path, item[field_name], field.type))


class _Identifiers(Visitor):
    """Checks every identifier a document writes or passes as a variable."""

    def __init__(self, type_info: TypeInfo, variables: dict[str, Any]) -> None:
        super().__init__()
        self.type_info = type_info
        self.variables = variables
        self.problem: GraphQLError | None = None

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> Any:
        return self.check(node.name.value, node.value)

    def enter_object_field(self, node: ObjectFieldNode, *_args: Any) -> Any:
        return self.check(node.name.value, node.value)

    def check(self, name: str, value: ValueNode) -> Any:
        # Where the schema does not know the argument or field, validation will say so.
        type_ = self.type_info.get_input_type()
        if type_ is None:
            return None
        try:
            if isinstance(value, VariableNode):
                found = self.variables.get(value.name.value)
                if is_identifier(name, type_):
                    for text in identifier_values(found):
                        validation.identifier(f"`{name}`", text)
                else:
                    check_variable(f"${value.name.value}", found, type_)
            elif is_identifier(name, type_):
                items = value.values if isinstance(value, ListValueNode) else (value,)
                for item in items:
                    if isinstance(item, StringValueNode):
                        validation.identifier(f"`{name}`", item.value)
        except BadInput as error:
            self.problem = GraphQLError(error.message, value, original_error=error)
            return BREAK  # one problem is enough
        return None


def identifier_problem(
    schema: GraphQLSchema, variables: dict[str, Any] | None, document: DocumentNode | None
) -> GraphQLError | None:
    if document is None:
        return None
    # A variable left out takes its default, written in the document.
    given = dict(variables or {})
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for variable in definition.variable_definitions or ():
                name = variable.variable.name.value
                if name not in given and variable.default_value is not None:
                    given[name] = value_from_ast_untyped(variable.default_value)
    type_info = TypeInfo(schema)
    checker = _Identifiers(type_info, given)
    visit(document, TypeInfoVisitor(type_info, checker))
    return checker.problem


def first_problem(
    variables: dict[str, Any] | None,
    document: DocumentNode | None,
    schema: GraphQLSchema | None = None,
) -> GraphQLError | None:
    for where, value, node in inputs(variables, document):
        try:
            validation.storable(where, value)
        except BadInput as error:
            return GraphQLError(error.message, node, original_error=error)
    return identifier_problem(schema, variables, document) if schema is not None else None


class InputGuard(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        graphql_schema = context.schema._schema
        problem = first_problem(context.variables, context.graphql_document, graphql_schema)
        if problem is not None:
            # Set before validation, Strawberry takes these as the validation result
            # and stops: no resolver runs, nothing is written.
            context.pre_execution_errors = [problem]
        yield
