"""API key scopes per operation: queries need READ (subscriptions check it when they
start, mutations need WRITE when they open their transaction)."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from models.enums import ApiKeyScope
from resolvers.errors import Forbidden


class ScopeGuard(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.operation_type is OperationType.QUERY:
            try:
                context.context.principal.require(ApiKeyScope.READ)
            except Forbidden as exc:
                # A result set here means the operation is not executed at all.
                context.result = ExecutionResult(
                    data=None, errors=[GraphQLError(exc.message, original_error=exc)]
                )
        yield
