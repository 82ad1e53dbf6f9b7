"""The execution state a run records (issue 19): the JSON objects a trace starts from and
a span saw, and a span's structured error, checked and shaped for storage."""

from __future__ import annotations

import dataclasses
from typing import Any

from models.enums import SpanStatus
from resolvers import validation
from resolvers.errors import BadInput
from resolvers.writes.commands import Json, SpanError

# An error's type is a class name ("TimeoutError", "openai.RateLimitError"), not prose.
MAX_ERROR_TYPE_LENGTH = 255
# errorDetails.type of the span errors Threadline writes itself, so that they read as
# structured as a client's: a tool call reported failed, a run failed (failRun), a tool
# call its run's end cut short, a run the sweeper failed for its agent's silence.
TOOL_ERROR = "ToolError"
RUN_FAILED = "RunFailed"
RUN_ENDED = "RunEnded"
AGENT_TIMEOUT = "AgentStreamTimeout"


def optional_objects(**values: Json | None) -> None:
    """Each value given must be a JSON object; None leaves the column empty (NULL)."""
    for name, value in values.items():
        if value is not None:
            validation.json_object(name, value)


def span_error(
    status: SpanStatus, error: str | None, details: SpanError | None
) -> tuple[str | None, Any]:
    """The span's `error` and `error_details` columns. Details are stored as given (their
    null fields left out), and `error` reads their message unless given itself; an error
    given without details stores none: the span's `errorDetails` then reads `{message}`
    from it, so that millions of spans do not each store their message twice."""
    if status == SpanStatus.OK and (error is not None or details is not None):
        raise BadInput(
            "an OK span has no error: end it as ERROR, or leave out `error` and `errorDetails`"
        )
    if details is None:
        return error, None
    validation.not_blank("errorDetails.message", details.message)
    if details.type is not None:
        validation.not_blank("errorDetails.type", details.type)
        validation.at_most("`errorDetails.type`", details.type, MAX_ERROR_TYPE_LENGTH)
    stored = {k: v for k, v in dataclasses.asdict(details).items() if v is not None}
    return (details.message if error is None else error), stored
