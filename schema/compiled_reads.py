"""CompiledReads: answers a read in one SQL statement where it can (resolvers/compiled).

Usage: the last entry of build_schema's extension list, with the plan cache of that
schema:

    extensions=[..., InputGuard, ScopeGuard, partial(CompiledReads, ReadPlans())]

It answers query operations (never mutations or subscriptions) on PostgreSQL only, made
only of fields it reproduces exactly: `conversation(id:)` and the first page of
`conversations`, and below them messages (latest branch or all branches), lastMessage,
plans and their steps, traces and their spans (unfiltered), tool calls, parents and
component versions, with their column fields (resolvers/compiled/fields.py and
render.py list them). For anything else (SQLite, an unknown field, cursors or `last`, an
argument the normal path would refuse, a failed statement) it steps aside and
graphql-core runs the resolvers; the result is the same either way
(tests/schema/test_compiled_path.py).

It runs as the last `on_execute` hook, so parsing, validation, input and scope checks
have run as for any request, and a request they refuse never gets here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import FieldNode, GraphQLField, GraphQLSchema
from graphql.execution import VariableValues, get_argument_values
from strawberry.extensions import SchemaExtension
from strawberry.schema import Schema
from strawberry.types import ExecutionContext
from strawberry.types.arguments import convert_arguments
from strawberry.types.graphql import OperationType

from resolvers.compiled.cache import ReadPlans
from resolvers.compiled.planner import Operation
from resolvers.compiled.statements import compiled_data
from resolvers.context import Context
from resolvers.db import brief, is_statement_timeout, is_unavailable
from resolvers.reads import ConversationQuery
from schema.query import conversation_query

log = logging.getLogger("threadline.compiled")


class StrawberryBinding:
    """resolvers.compiled.binding.SchemaBinding, answered from Strawberry's definitions."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    @property
    def graphql(self) -> GraphQLSchema:
        return self.schema._schema

    def arguments(
        self, field: GraphQLField, node: FieldNode, variables: VariableValues
    ) -> dict[str, Any]:
        raw = get_argument_values(field, node, variables)
        definition = field.extensions["strawberry-definition"]
        return convert_arguments(
            raw,
            definition.arguments,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
        )

    def python_name(self, field: GraphQLField) -> str | None:
        definition = field.extensions["strawberry-definition"]
        return None if definition.base_resolver is not None else str(definition.python_name)

    def conversation_query(self, filter: Any, order_by: Any) -> ConversationQuery:
        found: ConversationQuery = conversation_query(filter, order_by)
        return found


class CompiledReads(SchemaExtension):
    """Must be the last extension: its on_execute runs after every check of the others."""

    def __init__(
        self, plans: ReadPlans, *, execution_context: ExecutionContext | None = None
    ) -> None:
        super().__init__(execution_context=execution_context)
        self.plans = plans

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
            operation = Operation(
                context.query, context.graphql_document, context.variables, context.operation_name
            )
            try:
                data = await compiled_data(
                    self.plans, StrawberryBinding(context.schema), operation, ctx
                )
            except Exception as exc:  # a fault of the optimisation must not fail the request
                if is_unavailable(exc):
                    # Not a fault of the optimisation: the normal path meets the same
                    # database and reports it with its code.
                    log.info("compiled read stopped (%s), running the normal path", brief(exc))
                elif is_statement_timeout(exc):
                    # The normal path reads in smaller statements: let it try.
                    log.warning("compiled read timed out, running the normal path")
                else:
                    log.exception("compiled read failed, running the normal path")
                data = None
            if data is not None:
                context.result = GraphQLExecutionResult(data=data, errors=None)
        yield
