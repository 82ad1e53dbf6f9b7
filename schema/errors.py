"""Every error leaves with an `extensions.code`. Expected ones (the client's to fix) are
logged at INFO without a traceback; unexpected ones are masked and logged at ERROR, with
their traceback and the request id."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.execution import StreamExecutionResult

from resolvers.db import brief, is_statement_timeout, is_unavailable
from resolvers.errors import RETRY_AFTER_SECONDS, ThreadlineError, Unavailable

log = logging.getLogger("threadline.errors")

INTERNAL = "INTERNAL_SERVER_ERROR"
TIMEOUT = "TIMEOUT"
UNAVAILABLE = Unavailable.code
# The parser's limits (max_query_tokens, and nesting deeper than Python's recursion
# allows) read "Syntax Error: ...", though the document may be well formed: it is
# too big, as one past the depth or alias limits, and is refused with their code.
TOO_BIG = re.compile(
    r"Syntax Error: (Document contains more than \d+ tokens|Document is nested too deeply)\."
)
# graphql-core's words for a variable value that does not fit its type: 3.3 spells
# every case "has invalid value"; 3.2 had one spelling per case.
VARIABLE_VALUE = re.compile(
    r"Variable '\$\w+' (has invalid value"
    r"|got invalid value"
    r"|of required type .* was not provided"
    r"|of non-null type .* must not be null)"
)
# graphql-core's suggestions of names the schema has: " Did you mean 'a', 'b', or 'c'?",
# " Did you mean the enum value 'A'?" (names hold no question mark).
SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def request_error_code(message: str) -> str:
    """The code of an error graphql-core raised before running anything."""
    if TOO_BIG.match(message):
        return "GRAPHQL_VALIDATION_FAILED"
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if VARIABLE_VALUE.match(message):
        return "BAD_USER_INPUT"
    # Everything else is wrong in the document itself, "is never used" included.
    return "GRAPHQL_VALIDATION_FAILED"


def unavailable(request_id: str | None) -> tuple[str, dict[str, object]]:
    """The message and extensions of an error that a retry in a moment may get past."""
    return (
        f"The database is unavailable right now; retry in a moment (request id {request_id})",
        {"code": UNAVAILABLE, "requestId": request_id, "retryAfter": RETRY_AFTER_SECONDS},
    )


def is_retryable(error: GraphQLError) -> bool:
    """Whether a classified error asks the client to retry in a moment."""
    return (error.extensions or {}).get("code") == UNAVAILABLE


def classify(
    error: GraphQLError, request_id: str | None, *, suggestions: bool = True
) -> GraphQLError:
    """The error with its code; without `suggestions` (introspection off), without the
    names of the schema graphql-core suggests for a misspelt one."""
    original = error.original_error
    extensions = dict(error.extensions or {})
    if is_unavailable(original):
        # An outage, not a fault of the request or of the code: no traceback.
        log.warning(
            "database unavailable (request %s) at %s: %s", request_id, error.path, brief(original)
        )
        return _with(error, *unavailable(request_id))
    if isinstance(original, ThreadlineError):
        # The client's to fix (or to retry): a line at INFO, no traceback.
        log.info(
            "%s (request %s) at %s: %s", original.code, request_id, error.path, original.message
        )
        extensions.update(original.extensions, code=original.code)
        return _with(error, original.message, extensions)
    # An error with a path was raised while resolving a field: short of a
    # ThreadlineError it is our fault (an output value its type cannot hold...).
    # Without a path it is graphql-core refusing the request, unless something
    # other than graphql-core raised it.
    if error.path is None and (original is None or isinstance(original, GraphQLError)):
        extensions.setdefault("code", request_error_code(error.message))
        log.info("%s (request %s): %s", extensions["code"], request_id, error.message)
        message = error.message
        if TOO_BIG.match(message):
            message = message.removeprefix("Syntax Error: ")
        if not suggestions:
            message = SUGGESTION.sub("", message)
        return _with(error, message, extensions)
    if is_statement_timeout(original):
        log.warning("statement timeout (request %s) at %s: %s", request_id, error.path, original)
        return _with(
            error,
            "A database statement took longer than the server allows; ask for less "
            f"(a smaller page, a narrower filter) or try again later (request id {request_id})",
            {"code": TIMEOUT, "requestId": request_id},
        )
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
    def __init__(
        self, *, suggestions: bool = True, execution_context: ExecutionContext | None = None
    ) -> None:
        super().__init__(execution_context=execution_context)
        self.suggestions = suggestions
        self.streamed: object = None

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        # A stream's last result is the operation's too: classified (and logged) once.
        if result is not self.streamed:
            self._classify(result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        # Subscriptions: each result is sent as it comes, not at the end of the operation.
        self._classify(result)
        self.streamed = result
        yield

    def _classify(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if not errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", None)
        result.errors = [  # type: ignore[attr-defined]
            classify(e, request_id, suggestions=self.suggestions) for e in errors
        ]
