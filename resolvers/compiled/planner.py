"""Walks an operation's fields as graphql-core would execute them into a ReadPlan: one
statement building the operation's `data` as JSON.

Fields are collected with graphql-core's own collect_fields, so aliases, merged fields,
fragments and @skip/@include come out as the executor would have them. A field with a
resolver is compiled by its entry in fields.FIELDS, a column copy by render.scalar;
anything else raises Unsupported and the normal path runs the operation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLField,
    GraphQLObjectType,
    get_named_type,
    get_nullable_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution import Executor
from graphql.execution.collect_fields import (
    CollectedFields,
    FieldDetailsList,
    collect_fields,
    collect_subfields,
)
from sqlalchemy import bindparam
from sqlalchemy.types import Uuid

import models
from resolvers.compiled import fields, rows
from resolvers.compiled.binding import SchemaBinding
from resolvers.compiled.driver import DriverStatement, driver_statement
from resolvers.compiled.render import TABLE_TYPES, scalar
from resolvers.compiled.sql import (
    Unsupported,
    data_statement,
    json_object,
    list_json,
    name_literal,
    one_json,
)
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.pagination import PageArgs, PageRequest, Relation

log = logging.getLogger("threadline.compiled")


@dataclass(frozen=True)
class Operation:
    """A request's operation, parsed and validated."""

    query: str
    document: DocumentNode
    variables: dict[str, Any] | None
    name: str | None


@dataclass(frozen=True)
class ReadPlan:
    """One statement yielding the result's `data` as JSON text; `ids` are its parameters:
    (bind name, variable name) of the conversation ids it reads per request.
    `raw_json`: it copies JSON columns as stored, whose numbers may be of any size."""

    statement: DriverStatement
    ids: tuple[tuple[str, str], ...]
    raw_json: bool


def compile_plan(
    binding: SchemaBinding, operation: Operation, ctx: Context, ids: frozenset[str]
) -> ReadPlan | None:
    """The operation's plan, or None where the normal path must run it."""
    executor = Executor.build(
        binding.graphql,
        operation.document,
        raw_variable_values=operation.variables,
        operation_name=operation.name,
    )
    if isinstance(executor, list):
        return None
    try:
        return Planner(binding, executor, ctx, ids).plan()
    except Unsupported as exc:
        log.debug("normal path: %s", exc)
        return None


class Planner:
    """Walks an operation's fields as graphql-core would execute them, building the SQL."""

    def __init__(
        self, binding: SchemaBinding, executor: Executor, ctx: Context, id_variables: frozenset[str]
    ) -> None:
        self.binding = binding
        self.graphql = binding.graphql
        self.executor = executor
        self.principal = ctx.principal
        self.settings = ctx.settings
        self.dialect = ctx.database.reads.dialect
        self.id_variables = id_variables
        self.ids: dict[str, str] = {}
        self.raw_json = False

    def plan(self) -> ReadPlan:
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
        statement = driver_statement(data_statement(data), self.dialect, frozenset(self.ids))
        return ReadPlan(statement, tuple(self.ids.items()), self.raw_json)

    def id_parameter(self, variable: str) -> Any:
        """A bind parameter taking the conversation id sent as `variable`."""
        key = bindparam(f"conversation_id_{len(self.ids)}", type_=Uuid())
        self.ids[key.key] = variable
        return key

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
        known = fields.FIELDS.get((parent.name, name))
        if known is not None:
            if field.args.keys() != known.arguments:
                raise Unsupported(f"{parent.name}.{name} has other arguments than compiled")
            return known.compile(self, field, details, row)
        if parent.name in TABLE_TYPES:
            output = get_nullable_type(field.type)
            self.raw_json |= is_list_type(output) or get_named_type(output).name == "JSON"
            return scalar(parent.name, name, field, self.binding.python_name(field), row)
        raise Unsupported(f"{parent.name}.{name}")

    def arguments(self, field: GraphQLField, details: FieldDetailsList) -> dict[str, Any]:
        """The field's arguments as its resolver receives them (Python names and types)."""
        return self.binding.arguments(field, details[0].node, self.executor.variable_values)

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

    # --- Shapes of nested fields -----------------------------------------------------

    def connection(
        self,
        field: GraphQLField,
        details: FieldDetailsList,
        page: Callable[[], Any],
        count: Callable[[], Any],
    ) -> Any:
        """A Connection's totalCount, nodes and __typename; `page` gives the rows, in
        order (a fresh subquery for each use), `count` the total."""
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
                found = page()
                nodes = self.object_json(node_type, subdetails, found)
                pairs.append((key, list_json(nodes, found)))
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

        def page() -> Any:
            return rows.relation_rows(relation, row, self.principal, where=where(), limit=limit)

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
        return list_json(self.object_json(type_, details, found), found)

    def related(self, field: GraphQLField, details: FieldDetailsList, key: Any, row: Any) -> Any:
        """The row a nullable foreign key points at, if visible (schema.node.related)."""
        type_ = get_named_type(field.type)
        assert is_object_type(type_)
        assert not is_non_null_type(field.type)
        found = rows.by_id(getattr(models, type_.name), key, self.principal, row)
        return one_json(self.object_json(type_, details, found), found)
