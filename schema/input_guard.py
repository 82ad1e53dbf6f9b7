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

And with JSON values (resolvers/json_limits.py), found by type too: each JSON argument
or input field, a list of them taken whole as it is stored whole, whether it is given
in a variable, written in the document, or written with variables inside it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    ObjectValueNode,
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
from strawberry.types import ExecutionContext

from resolvers import validation
from resolvers.errors import BadInput
from resolvers.export import ROW_VALUES_DOWN
from resolvers.json_limits import JsonLimits


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


def literals(document: DocumentNode) -> list[tuple[Node, Any]]:
    collector = _Literals()
    visit(document, collector)
    return collector.found


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


# --- JSON values ---------------------------------------------------------------------

# JSON arguments holding stored values further down: importConversation's document
# holds rows, whose values are each one stored value.
STORED_VALUES_DOWN = {"document": ROW_VALUES_DOWN}


def is_json(type_: GraphQLInputType) -> bool:
    return get_named_type(type_).name == "JSON"


def check_json(limits: JsonLimits, path: str, name: str, value: Any) -> None:
    limits.check(path, value, STORED_VALUES_DOWN.get(name, 0))


def literal_shape(node: ValueNode) -> tuple[int, frozenset[str]]:
    """Levels of objects and lists a value written in the document nests, and the
    variables written inside it; walked without recursion, as the parser lets a
    literal nest a few hundred levels."""
    deepest = 0
    variables: set[str] = set()
    pending = [(node, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, VariableNode):
            variables.add(item.name.value)
        elif isinstance(item, ObjectValueNode | ListValueNode):
            deepest = max(deepest, level)
            if isinstance(item, ListValueNode):
                children = list(item.values)
            else:
                children = [object_field.value for object_field in item.fields]
            pending.extend((child, level + 1) for child in children)
    return deepest, frozenset(variables)


@dataclass(frozen=True)
class JsonLiteral:
    """A JSON value the document writes with variables inside (`metadata: {run: $run}`),
    checked once they are known."""

    name: str
    node: ValueNode
    variables: frozenset[str]

    def check(self, limits: JsonLimits, given: dict[str, Any]) -> None:
        # A variable left out is null (or refused by validation, after this).
        value = value_from_ast_untyped(self.node, {v: given.get(v) for v in self.variables})
        check_json(limits, self.name, self.name, value)


def check_variable(
    path: str, name: str, value: Any, type_: GraphQLInputType, limits: JsonLimits
) -> None:
    """Check the identifiers and JSON values inside a variable's value, walked along its
    input type; it is passed as the argument or input field `name`."""
    pending = [(path, name, value, type_)]
    while pending:
        path, name, item, item_type = pending.pop()
        nullable = get_nullable_type(item_type)
        if is_json(item_type):
            check_json(limits, path, name, item)
        elif isinstance(nullable, GraphQLList):
            # A single value stands for a list of one.
            items = item if isinstance(item, list) else [item]
            pending.extend((f"{path}[{i}]", name, v, nullable.of_type) for i, v in enumerate(items))
        elif isinstance(nullable, GraphQLInputObjectType) and isinstance(item, dict):
            for field_name, field in nullable.fields.items():
                if field_name not in item:
                    continue
                field_path = f"{path}.{field_name}"
                if is_identifier(field_name, field.type):
                    for text in identifier_values(item[field_name]):
                        validation.identifier(f"`{field_path}`", text)
                else:
                    pending.append((field_path, field_name, item[field_name], field.type))


@dataclass(frozen=True)
class VariableUse:
    """A variable passed as an argument or input field (`name`) of type `type_`."""

    name: str
    variable: str
    type_: GraphQLInputType
    node: ValueNode


@dataclass(frozen=True)
class DocumentInputs:
    """What a document writes and which variables it passes where: found once per
    document, as it depends on nothing else; only the variables change per request."""

    problem: GraphQLError | None  # in a value the document itself writes
    uses: tuple[VariableUse, ...] = ()
    json_literals: tuple[JsonLiteral, ...] = ()
    # Variables left out take their default, written in the document.
    defaults: dict[str, Any] = field(default_factory=dict)

    def variables_problem(
        self, variables: dict[str, Any] | None, limits: JsonLimits
    ) -> GraphQLError | None:
        try:
            validation.storable("variables", variables or {})
        except BadInput as error:
            return GraphQLError(error.message, original_error=error)
        if self.problem is not None:
            return self.problem
        given = {**self.defaults, **(variables or {})}
        for use in self.uses:
            found = given.get(use.variable)
            try:
                if is_identifier(use.name, use.type_):
                    for text in identifier_values(found):
                        validation.identifier(f"`{use.name}`", text)
                else:
                    check_variable(f"${use.variable}", use.name, found, use.type_, limits)
            except BadInput as error:
                return GraphQLError(error.message, use.node, original_error=error)
        for literal in self.json_literals:
            try:
                literal.check(limits, given)
            except BadInput as error:
                return GraphQLError(error.message, literal.node, original_error=error)
        return None


class _Arguments(Visitor):
    """Checks every identifier and JSON value a document writes as an argument or input
    field; notes where it passes variables."""

    def __init__(self, type_info: TypeInfo, limits: JsonLimits) -> None:
        super().__init__()
        self.type_info = type_info
        self.limits = limits
        self.uses: list[VariableUse] = []
        self.json_literals: list[JsonLiteral] = []
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
        if isinstance(value, VariableNode):
            self.uses.append(VariableUse(name, value.name.value, type_, value))
            return None
        try:
            if is_json(type_):
                self.check_json(name, value)
            elif is_identifier(name, type_):
                items = value.values if isinstance(value, ListValueNode) else (value,)
                for item in items:
                    if isinstance(item, StringValueNode):
                        validation.identifier(f"`{name}`", item.value)
        except BadInput as error:
            self.problem = GraphQLError(error.message, value, original_error=error)
            return BREAK  # one problem is enough
        return None

    def check_json(self, name: str, value: ValueNode) -> None:
        depth, variables = literal_shape(value)
        # Variables can only add levels; within the limit, reading the literal's value
        # recurses no deeper than that.
        if depth > self.limits.depth:
            raise self.limits.too_deep(f"`{name}`")
        if variables:
            self.json_literals.append(JsonLiteral(name, value, variables))
        else:
            check_json(self.limits, name, name, value_from_ast_untyped(value))


def document_inputs(
    schema: GraphQLSchema, document: DocumentNode, limits: JsonLimits
) -> DocumentInputs:
    for node, value in literals(document):
        try:
            validation.storable("a value in the document", value)
        except BadInput as error:
            return DocumentInputs(GraphQLError(error.message, node, original_error=error))
    defaults = {
        variable.variable.name.value: value_from_ast_untyped(variable.default_value)
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        for variable in definition.variable_definitions or ()
        if variable.default_value is not None
    }
    type_info = TypeInfo(schema)
    checker = _Arguments(type_info, limits)
    visit(document, TypeInfoVisitor(type_info, checker))
    return DocumentInputs(
        checker.problem, tuple(checker.uses), tuple(checker.json_literals), defaults
    )


class DocumentCache:
    """DocumentInputs by document text, for the few documents clients send again and
    again; bounded, so unique texts cannot grow it."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.found: OrderedDict[tuple[int, JsonLimits, str], DocumentInputs] = OrderedDict()

    def inputs(
        self, schema: GraphQLSchema, limits: JsonLimits, query: str, document: DocumentNode
    ) -> DocumentInputs:
        key = (id(schema), limits, query)
        found = self.found.get(key)
        if found is None:
            found = self.found[key] = document_inputs(schema, document, limits)
            if len(self.found) > self.size:
                self.found.popitem(last=False)
        else:
            self.found.move_to_end(key)
        return found


DOCUMENTS = DocumentCache()


class InputGuard(SchemaExtension):
    def __init__(
        self, limits: JsonLimits, *, execution_context: ExecutionContext | None = None
    ) -> None:
        super().__init__(execution_context=execution_context)
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.query is not None:
            schema = context.schema._schema
            inputs = DOCUMENTS.inputs(schema, self.limits, context.query, document)
            problem = inputs.variables_problem(context.variables, self.limits)
            if problem is not None:
                # Set before validation, Strawberry takes these as the validation result
                # and stops: no resolver runs, nothing is written.
                context.pre_execution_errors = [problem]
        yield
