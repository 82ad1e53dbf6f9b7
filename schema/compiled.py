"""The compiled read path: a query whose every field it knows is answered by one SQL
statement that builds the result's JSON in PostgreSQL (resolvers/compiled).

It is an optimisation that never changes a result. It runs as the last `on_execute`
hook, so parsing, validation, input and scope checks have run as for any request and
a request they refuse never gets here. It answers only queries on PostgreSQL whose
fields, arguments and directives it reproduces exactly; for anything else (an unknown
field, cursors, an argument the normal path would refuse, a failed statement) it
steps aside and graphql-core executes the operation as usual.

Fields are collected with graphql-core's own collect_fields, so aliases, merged
fields, fragments and @skip/@include come out as the executor would have them. A
plan is compiled once per (document, operation, variables that shape it, principal,
page sizes); a variable used only as `conversation(id:)` is a parameter of the plan.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    Node,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_enum_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution import Executor, get_argument_values
from graphql.execution.collect_fields import (
    CollectedFields,
    FieldDetailsList,
    collect_fields,
    collect_subfields,
)
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    bindparam,
    inspect,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator, Uuid
from strawberry.extensions import SchemaExtension
from strawberry.schema import Schema
from strawberry.types.arguments import convert_arguments
from strawberry.types.graphql import OperationType

import models
from models import Conversation
from resolvers import reads
from resolvers.access import visible
from resolvers.compiled import rows
from resolvers.compiled.sql import (
    Unsupported,
    data_statement,
    global_id,
    iso_datetime,
    json_float,
    json_object,
    list_json,
    name_literal,
    one_json,
)
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.ids import parse_id
from resolvers.pagination import Ordering, PageArgs, PageRequest, Relation
from resolvers.principal import Principal
from resolvers.relations import (
    MESSAGES_OF_CONVERSATION,
    PLANS_OF_CONVERSATION,
    SPANS_OF_TRACE,
    STEPS_OF_PLAN,
    TOOL_CALLS_OF_MESSAGE,
    TRACES_OF_CONVERSATION,
    VERSIONS_OF_SPAN,
)
from schema.query import conversation_query

log = logging.getLogger("threadline.compiled")

# The object types whose scalar fields are their table's columns (schema.node.from_row).
TABLE_TYPES = frozenset(
    {"Conversation", "Message", "ToolCall", "Plan", "PlanStep", "Trace", "Span", "ComponentVersion"}
)
MAX_PLANS = 512


@dataclass(frozen=True)
class Plan:
    """One statement yielding the result's `data` as JSON text; `ids` are its parameters:
    (bind name, variable name) of the conversation ids it reads per request."""

    statement: Any
    ids: tuple[tuple[str, str], ...]


class Compiler:
    """Walks an operation's fields as graphql-core would execute them, building the SQL."""

    def __init__(
        self, schema: Schema, executor: Executor, ctx: Context, id_variables: frozenset[str]
    ) -> None:
        self.schema = schema
        self.graphql: GraphQLSchema = schema._schema
        self.executor = executor
        self.principal: Principal = ctx.principal
        self.settings = ctx.settings
        self.id_variables = id_variables
        self.ids: dict[str, str] = {}

    def compile(self) -> Plan:
        query_type = self.graphql.query_type
        assert query_type is not None
        executor = self.executor
        collected = collect_fields(
            self.graphql,
            executor.fragments,
            executor.variable_values,
            query_type,
            executor.operation,
        )
        data = json_object(self.values(query_type, collected, None))
        return Plan(data_statement(data), tuple(self.ids.items()))

    # --- Selections -------------------------------------------------------------

    def values(
        self, parent: GraphQLObjectType, collected: CollectedFields, row: Any
    ) -> list[tuple[str, Any]]:
        if collected.new_defer_usages:
            raise Unsupported("@defer")
        pairs = []
        for key, details in collected.grouped_field_set.items():
            for detail in details:
                if detail.defer_usage is not None or detail.fragment_variable_values is not None:
                    raise Unsupported("@defer or fragment variables")
                if any(
                    d.name.value not in ("skip", "include") for d in detail.node.directives or ()
                ):
                    raise Unsupported("a directive other than @skip/@include")
            pairs.append((key, self.value(parent, details, row)))
        return pairs

    def subfields(self, type_: GraphQLObjectType, details: FieldDetailsList) -> CollectedFields:
        executor = self.executor
        return collect_subfields(
            self.graphql,
            executor.fragments,
            executor.variable_values,
            executor.operation,
            type_,
            details,
        )

    def object_json(self, type_: GraphQLObjectType, details: FieldDetailsList, row: Any) -> Any:
        return json_object(self.values(type_, self.subfields(type_, details), row))

    def value(self, parent: GraphQLObjectType, details: FieldDetailsList, row: Any) -> Any:
        name = details[0].node.name.value
        if name == "__typename":
            return name_literal(parent.name)
        field = parent.fields[name]
        nested = NESTED.get((parent.name, name))
        if nested is not None:
            return nested(self, field, details, row)
        if parent.name in TABLE_TYPES:
            return scalar(parent.name, name, field, row)
        raise Unsupported(f"{parent.name}.{name}")

    def arguments(self, field: GraphQLField, details: FieldDetailsList) -> dict[str, Any]:
        """The field's arguments as its resolver receives them (Python names and types)."""
        raw = get_argument_values(field, details[0].node, self.executor.variable_values)
        definition = field.extensions["strawberry-definition"]
        return convert_arguments(
            raw,
            definition.arguments,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
        )

    def page_limit(self, args: dict[str, Any]) -> int:
        """A first page's size as PageRequest takes it; cursors and `last` are not compiled."""
        try:
            request = PageRequest.from_args(
                PageArgs(
                    args.get("first"), args.get("after"), args.get("last"), args.get("before")
                ),
                self.settings.default_page_size,
                self.settings.max_page_size,
            )
        except BadInput as exc:
            raise Unsupported("page arguments the normal path refuses") from exc
        if request.backward or request.after is not None or request.before is not None:
            raise Unsupported("cursors or `last`")
        return request.limit

    def connection(
        self,
        field: GraphQLField,
        details: FieldDetailsList,
        page: Callable[[], tuple[Any, list[Any]]],
        count: Callable[[], Any],
    ) -> Any:
        """A Connection's totalCount, nodes and __typename; `page` gives the rows and
        their order (a fresh subquery for each use), `count` the total."""
        type_ = get_nullable_type(field.type)
        assert is_object_type(type_)
        node_type = get_named_type(type_.fields["nodes"].type)
        assert is_object_type(node_type)
        pairs = []
        for key, subdetails in self.subfields(type_, details).grouped_field_set.items():
            name = subdetails[0].node.name.value
            if name == "__typename":
                pairs.append((key, name_literal(type_.name)))
            elif name == "totalCount":
                pairs.append((key, count()))
            elif name == "nodes":
                found, order_by = page()
                nodes = self.object_json(node_type, subdetails, found)
                pairs.append((key, list_json(nodes, found, order_by)))
            else:
                raise Unsupported(f"{type_.name}.{name}")
        return json_object(pairs)

    def nested_page(
        self,
        field: GraphQLField,
        details: FieldDetailsList,
        relation: Relation,
        row: Any,
        where: Callable[[], list[Any]] = list,
    ) -> Any:
        """schema.pagination.nested_connection (with `where`: the branch of messages)."""
        limit = self.page_limit(self.arguments(field, details))
        order_by = relation.ordering.order_by(reverse=False)

        def page() -> tuple[Any, list[Any]]:
            found = rows.relation_rows(relation, row, self.principal, where=where(), limit=limit)
            return found, order_by

        def count() -> Any:
            return rows.relation_count(relation, row, self.principal, where=where())

        return self.connection(field, details, page, count)

    def nested_list(
        self, field: GraphQLField, details: FieldDetailsList, relation: Relation, row: Any
    ) -> Any:
        """Every row of a relation (Loaders.rows_by)."""
        type_ = get_named_type(field.type)
        assert is_object_type(type_)
        found = rows.relation_rows(relation, row, self.principal)
        order_by = relation.ordering.order_by(reverse=False)
        return list_json(self.object_json(type_, details, found), found, order_by)

    def related(self, field: GraphQLField, details: FieldDetailsList, key: Any, row: Any) -> Any:
        """The row a nullable foreign key points at, if visible (schema.node.related)."""
        type_ = get_named_type(field.type)
        assert is_object_type(type_)
        assert not is_non_null_type(field.type)
        found = rows.by_id(getattr(models, type_.name), key, self.principal, row)
        return one_json(self.object_json(type_, details, found), found)

    # --- Root fields ----------------------------------------------------------------

    def conversation(self, field: GraphQLField, details: FieldDetailsList, _row: Any) -> Any:
        argument = next(a for a in details[0].node.arguments or () if a.name.value == "id")
        if (
            isinstance(argument.value, VariableNode)
            and argument.value.name.value in self.id_variables
        ):
            variable = argument.value.name.value
            key: Any = bindparam(f"conversation_id_{len(self.ids)}", type_=Uuid())
            self.ids[key.key] = variable
        else:
            global_id_value = self.arguments(field, details)["id"]
            try:
                key = parse_id(global_id_value, "Conversation")
            except BadInput as exc:
                raise Unsupported("an id the normal path refuses") from exc
        return self.related(field, details, key, None)

    def conversations(self, field: GraphQLField, details: FieldDetailsList, _row: Any) -> Any:
        args = self.arguments(field, details)
        limit = self.page_limit(args)
        # reads.conversations, with the filter and order as schema.query converts them.
        q = conversation_query(args.get("filter"), args.get("order_by"))
        ordering = Ordering(getattr(Conversation, q.order_field), Conversation.id, q.descending)
        order_by = ordering.order_by(reverse=False)

        def where() -> list[Any]:
            return [*reads.conversation_conditions(q), *visible(Conversation, self.principal)]

        def page() -> tuple[Any, list[Any]]:
            statement = rows.table_rows(Conversation).where(*where())
            return rows.limited(statement, order_by, limit), order_by

        def count() -> Any:
            return rows.table_count(Conversation, where())

        return self.connection(field, details, page, count)

    # --- Nested fields --------------------------------------------------------------

    def messages(self, field: GraphQLField, details: FieldDetailsList, row: Any) -> Any:
        args = self.arguments(field, details)
        if args.get("branch") is not None:
            raise Unsupported("messages(branch:)")
        if args.get("all_branches"):
            return self.nested_page(field, details, MESSAGES_OF_CONVERSATION, row)
        return self.nested_page(
            field, details, MESSAGES_OF_CONVERSATION, row, lambda: [rows.on_latest_branch(row)]
        )

    def last_message(self, field: GraphQLField, details: FieldDetailsList, row: Any) -> Any:
        type_ = get_named_type(field.type)
        assert is_object_type(type_)
        found = rows.latest_message(row)
        return one_json(self.object_json(type_, details, found), found)

    def spans(self, field: GraphQLField, details: FieldDetailsList, row: Any) -> Any:
        args = self.arguments(field, details)
        if args.get("filter") is not None or args.get("order_by") is not None:
            raise Unsupported("spans(filter:, orderBy:)")
        return self.nested_page(field, details, SPANS_OF_TRACE, row)


FieldCompiler = Callable[["Compiler", GraphQLField, FieldDetailsList, Any], Any]


def _page(relation: Relation) -> FieldCompiler:
    return lambda compiler, field, details, row: compiler.nested_page(field, details, relation, row)


def _list(relation: Relation) -> FieldCompiler:
    return lambda compiler, field, details, row: compiler.nested_list(field, details, relation, row)


def _parent(column: str) -> FieldCompiler:
    return lambda compiler, field, details, row: compiler.related(
        field, details, row.c[column], row
    )


# The fields with resolvers the compiled path reproduces, by (type, field).
NESTED: dict[tuple[str, str], FieldCompiler] = {
    ("Query", "conversation"): Compiler.conversation,
    ("Query", "conversations"): Compiler.conversations,
    ("Conversation", "messages"): Compiler.messages,
    ("Conversation", "lastMessage"): Compiler.last_message,
    ("Conversation", "plans"): _page(PLANS_OF_CONVERSATION),
    ("Conversation", "traces"): _page(TRACES_OF_CONVERSATION),
    ("Message", "toolCalls"): _list(TOOL_CALLS_OF_MESSAGE),
    ("Message", "parent"): _parent("parent_message_id"),
    ("Plan", "steps"): _list(STEPS_OF_PLAN),
    ("Trace", "spans"): Compiler.spans,
    ("Span", "parent"): _parent("parent_span_id"),
    ("Span", "componentVersions"): _list(VERSIONS_OF_SPAN),
}


def _sql_type(column: Any) -> Any:
    found = column.type
    return found.impl_instance if isinstance(found, TypeDecorator) else found


def _rendered(output: Any, sql_type: Any, value: Any) -> Any:
    """The column written as a field of type `output` would be, if its SQL type fits."""
    named = get_named_type(output).name
    if is_list_type(output) or named == "JSON":
        return value if isinstance(sql_type, JSON) else None
    if is_enum_type(output):
        # Stored by name (models.base.enum_field), which is how GraphQL writes them.
        return value if getattr(sql_type, "enum_class", None) is not None else None
    fits = {
        "String": isinstance(sql_type, String),
        "Int": isinstance(sql_type, Integer) and not isinstance(sql_type, BigInteger),
        "Boolean": isinstance(sql_type, Boolean),
        "Float": isinstance(sql_type, Float),
        "DateTime": isinstance(sql_type, DateTime) and bool(sql_type.timezone),
    }
    if not fits.get(named, False):
        return None
    if named == "Float":
        return json_float(value)
    return iso_datetime(value) if named == "DateTime" else value


def scalar(type_name: str, name: str, field: GraphQLField, row: Any) -> Any:
    """A field copied from its row's column (schema.node.from_row), written as its
    GraphQL type serializes it. The column's type and nullability must be what the
    field's type expects: no value can then be one the normal path would refuse."""
    definition = field.extensions["strawberry-definition"]
    if definition.base_resolver is not None or field.args:
        raise Unsupported(f"{type_name}.{name} has a resolver")
    attribute = "meta" if definition.python_name == "metadata" else definition.python_name
    mapped = inspect(getattr(models, type_name)).columns
    if attribute not in mapped:
        raise Unsupported(f"{type_name}.{name} is not a column")
    column = mapped[attribute]
    if is_non_null_type(field.type) and column.nullable:
        raise Unsupported(f"{type_name}.{name} is non-null over a nullable column")
    value = row.c[column.name]
    if attribute == "id":
        return global_id(type_name, value)
    written = _rendered(get_nullable_type(field.type), _sql_type(column), value)
    if written is not None:
        return written
    raise Unsupported(f"{type_name}.{name}: no exact rendering of its column")


# --- Which variables are per-request parameters ------------------------------------


def _variables_in(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, VariableNode):
        return [node.name.value]
    if isinstance(node, Node):
        for key in node.keys:
            child = getattr(node, key, None)
            for item in child if isinstance(child, tuple | list) else (child,):
                if isinstance(item, Node):
                    found.extend(_variables_in(item))
    return found


def id_variables(document: DocumentNode) -> frozenset[str]:
    """Variables used nowhere but as `conversation(id:)` (the only field of that name
    with an `id`: Query.conversation): the plan takes them as parameters; every other
    variable may shape it (directives, page sizes, filters) and is part of its key."""
    as_id: set[str] = set()
    elsewhere: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, FieldNode):
            for argument in node.arguments or ():
                if (
                    node.name.value == "conversation"
                    and argument.name.value == "id"
                    and isinstance(argument.value, VariableNode)
                ):
                    as_id.add(argument.value.name.value)
                else:
                    elsewhere.update(_variables_in(argument))
            for directive in node.directives or ():
                elsewhere.update(_variables_in(directive))
            if node.selection_set is not None:
                visit(node.selection_set)
            return
        if isinstance(node, ArgumentNode | VariableNode):
            elsewhere.update(_variables_in(node))
            return
        if isinstance(node, Node):
            for key in node.keys:
                if key == "variable_definitions":
                    continue
                child = getattr(node, key, None)
                for item in child if isinstance(child, tuple | list) else (child,):
                    if isinstance(item, Node):
                        visit(item)

    visit(document)
    return frozenset(as_id - elsewhere)


# --- Plans, cached --------------------------------------------------------------------


class Plans:
    """Compiled plans (None: the normal path's), least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.found: OrderedDict[Hashable, Plan | None] = OrderedDict()
        self.id_variables: OrderedDict[str, frozenset[str]] = OrderedDict()

    def get(self, key: Hashable, compile: Callable[[], Plan | None]) -> Plan | None:
        if key in self.found:
            self.found.move_to_end(key)
            return self.found[key]
        plan = self.found[key] = compile()
        if len(self.found) > self.size:
            self.found.popitem(last=False)
        return plan

    def variables(self, query: str, document: DocumentNode) -> frozenset[str]:
        found = self.id_variables.get(query)
        if found is None:
            found = self.id_variables[query] = id_variables(document)
            if len(self.id_variables) > self.size:
                self.id_variables.popitem(last=False)
        return found


PLANS = Plans(MAX_PLANS)


def principal_key(principal: Principal) -> Hashable:
    # What resolvers.access.visible reads of a principal.
    if principal.unrestricted:
        return True
    return (principal.user_id, principal.identities)


def _compile(schema: Schema, executor: Executor, ctx: Context, ids: frozenset[str]) -> Plan | None:
    try:
        return Compiler(schema, executor, ctx, ids).compile()
    except Unsupported as exc:
        log.debug("normal path: %s", exc)
        return None


async def compiled_data(
    schema: Schema,
    query: str,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    ctx: Context,
) -> dict[str, Any] | None:
    """The operation's `data` by the compiled path, or None where it does not apply."""
    if ctx.database.engine.dialect.name != "postgresql":
        return None
    ids = PLANS.variables(query, document)
    raw = variables or {}
    try:
        shaping = json.dumps({k: v for k, v in raw.items() if k not in ids}, sort_keys=True)
    except (TypeError, ValueError):
        return None
    settings = ctx.settings
    key = (
        id(schema),
        query,
        operation_name,
        shaping,
        principal_key(ctx.principal),
        settings.default_page_size,
        settings.max_page_size,
    )

    def compile() -> Plan | None:
        # Built only to compile: a query the cache already knows needs no executor.
        executor = Executor.build(
            schema._schema, document, raw_variable_values=variables, operation_name=operation_name
        )
        return None if isinstance(executor, list) else _compile(schema, executor, ctx, ids)

    plan = PLANS.get(key, compile)
    if plan is None:
        return None
    parameters: dict[str, uuid.UUID] = {}
    for bind, variable in plan.ids:
        # An ID variable as sent: a string (anything else takes the normal path).
        value = raw.get(variable)
        if not isinstance(value, str):
            return None
        try:
            parameters[bind] = parse_id(value, "Conversation")
        except BadInput:
            return None
    try:
        # One statement: a bare connection, without a session around it.
        async with ctx.database.reads.connect() as connection:
            text = (await connection.execute(plan.statement, parameters)).scalar_one()
    except DBAPIError as exc:
        # The normal path reads in smaller statements: let it try, and report.
        log.warning("compiled read failed, running the normal path: %s", exc)
        return None
    if text is None:
        return None
    data: dict[str, Any] = json.loads(text)
    return data


class CompiledReads(SchemaExtension):
    """Must be the last extension: its on_execute runs after every check of the others."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        ctx = context.context
        if (
            context.result is None
            and context.operation_type is OperationType.QUERY
            and context.query is not None
            and context.graphql_document is not None
            and isinstance(ctx, Context)
        ):
            try:
                data = await compiled_data(
                    context.schema,
                    context.query,
                    context.graphql_document,
                    context.variables,
                    context.operation_name,
                    ctx,
                )
            except Exception:  # a fault of the optimisation must not fail the request
                log.exception("compiled read failed, running the normal path")
                data = None
            if data is not None:
                context.result = GraphQLExecutionResult(data=data, errors=None)
        yield
