"""Every error leaves with an `extensions.code`; unexpected ones are masked and logged."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import StreamExecutionResult

from resolvers.errors import ThreadlineError

log = logging.getLogger("threadline.errors")

INTERNAL = "INTERNAL_SERVER_ERROR"
# graphql-core's words for a variable value that does not fit its type: 3.3 spells
# every case "has invalid value"; 3.2 had one spelling per case.
VARIABLE_VALUE = re.compile(
    r"Variable '\$\w+' (has invalid value"
    r"|got invalid value"
    r"|of required type .* was not provided"
    r"|of non-null type .* must not be null)"
)


def request_error_code(message: str) -> str:
    """The code of an error graphql-core raised before running anything."""
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if VARIABLE_VALUE.match(message):
        return "BAD_USER_INPUT"
    # Everything else is wrong in the document itself, "is never used" included.
    return "GRAPHQL_VALIDATION_FAILED"


def classify(error: GraphQLError, request_id: str | None) -> GraphQLError:
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, ThreadlineError):
        extensions.update(original.extensions, code=original.code)
        return _with(error, original.message, extensions)
    # An error with a path was raised while resolving a field: short of a
    # ThreadlineError it is our fault (an output value its type cannot hold...).
    # Without a path it is graphql-core refusing the request, unless something
    # other than graphql-core raised it.
    if error.path is None and (original is None or isinstance(original, GraphQLError)):
        extensions.setdefault("code", request_error_code(error.message))
        return _with(error, error.message, extensions)
    log.error("unexpected error (request %s) at %s", request_id, error.path, exc_info=original)
    return _with(
        error,
        f"Internal server error (request id {request_id})",
        {"code": INTERNAL, "requestId": request_id},
    )


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=extensions,
    )


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        self._classify(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        # Subscriptions: each result is sent as it comes, not at the end of the operation.
        self._classify(result)
        yield

    def _classify(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if not errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", None)
        result.errors = [classify(e, request_id) for e in errors]  # type: ignore[attr-defined]
