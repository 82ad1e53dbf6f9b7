"""The schema class: Strawberry's, with identical live subscriptions sharing one
execution per event (subscriptions.shared)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any, cast

import strawberry
from strawberry.schema.schema import StreamResult
from strawberry.types.graphql import OperationType

from resolvers.context import Context
from schema.compiled import CompiledReads
from subscriptions.shared import SharedStreams, stream_key


class SharingSchema(strawberry.Schema):
    def __init__(self, *args: Any, max_query_tokens: int, **kwargs: Any) -> None:
        # The compiled read path goes last: it answers only what every other check let through.
        kwargs["extensions"] = [*kwargs.get("extensions", ()), CompiledReads]
        super().__init__(*args, **kwargs)
        self.max_query_tokens = max_query_tokens
        self.shared_streams = SharedStreams()

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
        key = stream_key(
            query, variable_values, operation_name, context_value, self.max_query_tokens
        )
        if key is None:
            return await execute()
        return cast(
            "StreamResult",
            self.shared_streams.follow(key, cast("Context", context_value), execute),
        )
