"""The registry of fields with resolvers that the compiled path reproduces, by
(GraphQL type, field), with the arguments each takes: the planner steps aside from any
other field with a resolver, and tests/resolvers/test_compiled_registry.py holds this
registry to the built schema."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import GraphQLField, VariableNode, get_named_type, is_object_type
from graphql.execution.collect_fields import FieldDetailsList

from models import Conversation
from resolvers import reads
from resolvers.access import visible
from resolvers.compiled import rows
from resolvers.compiled.sql import Unsupported, one_json
from resolvers.errors import BadInput
from resolvers.ids import parse_id
from resolvers.pagination import Ordering, Relation
from resolvers.relations import (
    MESSAGES_OF_CONVERSATION,
    MESSAGES_OF_CONVERSATION_NEWEST_FIRST,
    PLANS_OF_CONVERSATION,
    SPANS_OF_TRACE,
    STEPS_OF_PLAN,
    TOOL_CALLS_OF_MESSAGE,
    TRACES_OF_CONVERSATION,
    VERSIONS_OF_SPAN,
)

if TYPE_CHECKING:
    from resolvers.compiled.planner import Planner

FieldCompiler = Callable[["Planner", GraphQLField, FieldDetailsList, Any], Any]

# The arguments of a connection's page (schema.pagination).
PAGE = frozenset({"first", "after", "last", "before"})


@dataclass(frozen=True)
class KnownField:
    """How to compile a field, and the GraphQL names of the arguments it takes."""

    compile: FieldCompiler
    arguments: frozenset[str] = frozenset()


# --- Root fields --------------------------------------------------------------------


def conversation(
    planner: Planner, field: GraphQLField, details: FieldDetailsList, _row: Any
) -> Any:
    argument = next(a for a in details[0].node.arguments or () if a.name.value == "id")
    if (
        isinstance(argument.value, VariableNode)
        and argument.value.name.value in planner.id_variables
    ):
        key: Any = planner.id_parameter(argument.value.name.value)
    else:
        global_id_value = planner.arguments(field, details)["id"]
        try:
            key = parse_id(global_id_value, "Conversation")
        except BadInput as exc:
            raise Unsupported("an id the normal path refuses") from exc
    return planner.related(field, details, key, None)


def conversations(
    planner: Planner, field: GraphQLField, details: FieldDetailsList, _row: Any
) -> Any:
    args = planner.arguments(field, details)
    limit = planner.page_limit(args)
    # reads.conversations, with the filter and order as the GraphQL layer converts them.
    try:
        q = planner.binding.conversation_query(args.get("filter"), args.get("order_by"))
    except BadInput as exc:
        raise Unsupported("a filter the normal path refuses") from exc
    ordering = Ordering(getattr(Conversation, q.order_field), Conversation.id, q.descending)
    order_by = ordering.order_by(reverse=False)

    def where() -> list[Any]:
        return [*reads.conversation_conditions(q), *visible(Conversation, planner.principal)]

    def page() -> Any:
        statement = rows.table_rows(Conversation).where(*where())
        return rows.limited(statement, order_by, limit)

    def count() -> Any:
        return rows.table_count(Conversation, where())

    return planner.connection(field, details, page, count)


# --- Nested fields ------------------------------------------------------------------


def messages(planner: Planner, field: GraphQLField, details: FieldDetailsList, row: Any) -> Any:
    args = planner.arguments(field, details)
    if args.get("branch") is not None:
        raise Unsupported("messages(branch:)")
    # schema.inputs.MessageOrder, whose direction is a StrEnum.
    order = args.get("order_by")
    newest_first = order is not None and order.direction == "DESC"
    relation = MESSAGES_OF_CONVERSATION_NEWEST_FIRST if newest_first else MESSAGES_OF_CONVERSATION
    if args.get("all_branches"):
        return planner.nested_page(field, details, relation, row)
    return planner.nested_page(field, details, relation, row, lambda: [rows.on_latest_branch(row)])


def last_message(planner: Planner, field: GraphQLField, details: FieldDetailsList, row: Any) -> Any:
    type_ = get_named_type(field.type)
    assert is_object_type(type_)
    found = rows.latest_message(row)
    return one_json(planner.object_json(type_, details, found), found)


def spans(planner: Planner, field: GraphQLField, details: FieldDetailsList, row: Any) -> Any:
    args = planner.arguments(field, details)
    if args.get("filter") is not None or args.get("order_by") is not None:
        raise Unsupported("spans(filter:, orderBy:)")
    return planner.nested_page(field, details, SPANS_OF_TRACE, row)


def _page(relation: Relation) -> KnownField:
    """A connection over a relation, first page only (schema.pagination.nested_connection)."""
    return KnownField(
        lambda planner, field, details, row: planner.nested_page(field, details, relation, row),
        PAGE,
    )


def _list(relation: Relation) -> KnownField:
    """Every row of a relation, as a list."""
    return KnownField(
        lambda planner, field, details, row: planner.nested_list(field, details, relation, row)
    )


def _parent(column: str) -> KnownField:
    """The row a nullable foreign key column of the row points at."""
    return KnownField(
        lambda planner, field, details, row: planner.related(field, details, row.c[column], row)
    )


FIELDS: dict[tuple[str, str], KnownField] = {
    ("Query", "conversation"): KnownField(conversation, frozenset({"id"})),
    ("Query", "conversations"): KnownField(conversations, PAGE | {"filter", "orderBy"}),
    ("Conversation", "messages"): KnownField(messages, PAGE | {"branch", "allBranches", "orderBy"}),
    ("Conversation", "lastMessage"): KnownField(last_message),
    ("Conversation", "plans"): _page(PLANS_OF_CONVERSATION),
    ("Conversation", "traces"): _page(TRACES_OF_CONVERSATION),
    ("Message", "toolCalls"): _list(TOOL_CALLS_OF_MESSAGE),
    ("Message", "parent"): _parent("parent_message_id"),
    ("Plan", "steps"): _list(STEPS_OF_PLAN),
    ("Trace", "spans"): KnownField(spans, PAGE | {"filter", "orderBy"}),
    ("Span", "parent"): _parent("parent_span_id"),
    ("Span", "componentVersions"): _list(VERSIONS_OF_SPAN),
}
