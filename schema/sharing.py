"""The schema class: Strawberry's, with identical live subscriptions sharing one
execution per event (subscriptions.shared)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterable
from functools import partial
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from resolvers.context import Context
from resolvers.db import brief, is_unavailable
from schema.errors import classify
from schema.parsing import parsed
from subscriptions.shared import SharedStreams, Sharing, stream_key

# Root subscriptions (schema.subscription) whose live stream may be shared: the argument
# that asks for a replay (a stream with it set is the subscriber's own), or None.
SHAREABLE = {"conversationEvents": "after", "conversationsActivity": None}
# Of those, the streams that have a cursor to resume from (per conversation).
RESUMABLE = frozenset({"conversationEvents"})


class SharingSchema(strawberry.Schema):
    def __init__(self, *args: Any, max_query_tokens: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_query_tokens = max_query_tokens
        self.sharing = Sharing(
            shareable=SHAREABLE,
            resumable=RESUMABLE,
            parse=lambda query: parsed(query, max_query_tokens),
            classify=lambda error: classify(error, None),
        )
        self.shared_streams = SharedStreams(self.sharing)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Nothing: ErrorCodes logs each error once, at its level (an outage as a warning,
        a fault with its traceback). Strawberry would log every error, expected ones
        included, with a traceback."""

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        # Every operation of a socket gets a context of its own (the socket's is shared).
        if isinstance(context_value, Context):
            context_value = context_value.for_operation()
        execute = partial(
            super().stream,
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )
        key = stream_key(self.sharing, query, variable_values, operation_name, context_value)
        if key is None:
            return await execute()
        context = cast("Context", context_value)
        return cast(
            "StreamResult",
            _reported(self.shared_streams.follow(key, context, execute), context.request_id),
        )


async def _reported(
    results: AsyncGenerator[ExecutionResult, None], request_id: str
) -> AsyncGenerator[ExecutionResult, None]:
    """A shared stream's results, and the database failing as the subscriber joins it
    (its access is checked then) as the error a client can act on, UNAVAILABLE: the
    transport would otherwise end the operation without a word."""
    async with contextlib.aclosing(results):
        try:
            async for result in results:
                yield result
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            error = GraphQLError(brief(exc), original_error=exc)
            yield ExecutionResult(data=None, errors=[classify(error, request_id)])
