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
        key = stream_key(self.sharing, query, variable_values, operation_name, context_value)
        if key is None:
            return await execute()
        return cast(
            "StreamResult",
            self.shared_streams.follow(key, cast("Context", context_value), execute),
        )
