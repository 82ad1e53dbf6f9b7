"""Every error leaves with an `extensions.code`; unexpected ones are masked and logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from resolvers.errors import ThreadlineError

log = logging.getLogger("threadline.errors")

INTERNAL = "INTERNAL_SERVER_ERROR"


def classify(error: GraphQLError, request_id: str | None) -> GraphQLError:
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, ThreadlineError):
        extensions.update(original.extensions, code=original.code)
        return _with(error, original.message, extensions)
    if original is None:
        # Raised by graphql-core itself: the document or the variables are wrong.
        if "code" not in extensions:
            extensions["code"] = (
                "BAD_USER_INPUT"
                if "Variable" in error.message
                else (
                    "GRAPHQL_PARSE_FAILED"
                    if error.message.startswith("Syntax Error")
                    else "GRAPHQL_VALIDATION_FAILED"
                )
            )
        return _with(error, error.message, extensions)
    if isinstance(original, GraphQLError) or type(original).__module__.startswith("graphql"):
        extensions.setdefault("code", "BAD_USER_INPUT")
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
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        result.errors = [classify(e, request_id) for e in result.errors]
