"""API key scopes per operation: queries need READ (subscriptions check it when they
start, mutations need WRITE when they open their transaction), and so does a mutation's
answer beyond what the write itself produced: without READ, writing must not be a way
to read (`updateConversation { messages { ... } }`)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from models.enums import ApiKeyScope
from resolvers.errors import Forbidden

# What a mutation's answer holds without READ besides the ids of Node types and
# `__typename`: per GraphQL type, the fields that report on the write itself rather than
# on stored rows. An object field leads to a type checked the same way. A type missing
# here (a new payload, or one renamed) allows nothing else: refusing is the safe side.
RECEIPTS: dict[str, frozenset[str]] = {
    "IngestItemResult": frozenset({"index", "clientEventId", "ok", "id", "error"}),
    "IngestError": frozenset({"message", "code"}),
    # Not its `title`: deleting a conversation must not be a way to read it.
    "DeleteConversationPayload": frozenset({"deletedId"}),
    "DeleteMessagePayload": frozenset({"deletedIds", "conversation"}),
}
NODE_FIELDS = ("id",)
WITH_FIELDS = (GraphQLObjectType, GraphQLInterfaceType)


@dataclass(frozen=True)
class Reading:
    """A field of a mutation's answer that reads stored data."""

    type_name: str
    field: FieldNode

    def __str__(self) -> str:
        return f"{self.type_name}.{self.field.name.value}"


class AnswerCheck:
    """Finds a field of a mutation's answer that only READ may select, through aliases
    (fields are judged by name), inline fragments and named fragments.

    A named fragment is judged once: its type condition alone decides what it may
    select, so spreading fragments into fragments cannot make the walk long.
    """

    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.node = schema.get_type("Node")
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.judged: dict[str, Reading | None] = {}

    def selections(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode
    ) -> Reading | None:
        for selection in selection_set.selections:
            if isinstance(selection, FragmentSpreadNode):
                found = self.fragment(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = parent if condition is None else self.named(condition.name.value)
                found = self.selections(on, selection.selection_set)
            else:
                found = self.field(parent, cast(FieldNode, selection))
            if found is not None:
                return found
        return None

    def field(self, parent: GraphQLNamedType, node: FieldNode) -> Reading | None:
        name = node.name.value
        if name == "__typename":
            return None
        # A union has no field of its own but __typename.
        if not isinstance(parent, WITH_FIELDS) or name not in self.allowed(parent):
            return Reading(parent.name, node)
        if node.selection_set is None:
            return None
        return self.selections(get_named_type(parent.fields[name].type), node.selection_set)

    def allowed(self, parent: GraphQLObjectType | GraphQLInterfaceType) -> Collection[str]:
        if parent is self.schema.mutation_type:
            return parent.fields  # every write, its answer judged below it
        if parent.name in RECEIPTS:
            return RECEIPTS[parent.name]
        if parent is self.node or self.node in parent.interfaces:
            return NODE_FIELDS
        return ()

    def fragment(self, name: str) -> Reading | None:
        if name not in self.judged:
            # Meanwhile (a cycle, which validation refuses anyway): nothing found.
            self.judged[name] = None
            fragment = self.fragments[name]
            on = self.named(fragment.type_condition.name.value)
            self.judged[name] = self.selections(on, fragment.selection_set)
        return self.judged[name]

    def named(self, name: str) -> GraphQLNamedType:
        found = self.schema.get_type(name)
        # The document passed validation: every type condition names a type of the schema.
        assert found is not None
        return found


class ScopeGuard(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        try:
            self.execution_context.context.principal.require(ApiKeyScope.READ)
        except Forbidden as lacking:
            refusal = self.refusal(lacking)
            if refusal is not None:
                # A result set here means the operation is not executed at all.
                self.execution_context.result = ExecutionResult(data=None, errors=[refusal])
        yield

    def refusal(self, lacking: Forbidden) -> GraphQLError | None:
        """Why an operation of a principal without READ does not run, if it does not."""
        kind = self.execution_context.operation_type
        if kind is OperationType.QUERY:
            return GraphQLError(lacking.message, original_error=lacking)
        if kind is OperationType.MUTATION:
            reading = self.reading()
            if reading is not None:
                exc = Forbidden(
                    f"{lacking.message}, which selecting {reading} needs: without it a "
                    "mutation answers with the ids of what it wrote (and __typename), no more",
                    **lacking.extensions,
                )
                return GraphQLError(exc.message, reading.field, original_error=exc)
        # A subscription checks READ as it starts (resolvers.credentials.ensure_may_listen).
        return None

    def reading(self) -> Reading | None:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        operation = get_operation_ast(document, context.operation_name)
        schema = context.schema._schema
        if operation is None or schema.mutation_type is None:
            return None  # graphql-core refuses the operation, in its own words
        check = AnswerCheck(schema, document)
        return check.selections(schema.mutation_type, operation.selection_set)
