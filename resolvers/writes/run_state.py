"""The execution state a run records (issue 19): the JSON objects a trace starts from and
a span saw, and a span's structured error, checked and shaped for storage."""

from __future__ import annotations

import dataclasses
from typing import Any

from resolvers import validation
from resolvers.writes.commands import Json, SpanError

# An error's type is a class name ("TimeoutError", "openai.RateLimitError"), not prose.
MAX_ERROR_TYPE_LENGTH = 255


def optional_objects(**values: Json | None) -> None:
    """Each value given must be a JSON object; None leaves the column empty (NULL)."""
    for name, value in values.items():
        if value is not None:
            validation.json_object(name, value)


def span_error(error: str | None, details: SpanError | None) -> tuple[str | None, Any]:
    """The span's `error` and `error_details` columns. Details are stored as given (their
    null fields left out), and `error` reads their message unless given itself; an error
    given without details stores none: the span's `errorDetails` then reads `{message}`
    from it, so that millions of spans do not each store their message twice."""
    if details is None:
        return error, None
    validation.not_blank("errorDetails.message", details.message)
    if details.type is not None:
        validation.not_blank("errorDetails.type", details.type)
        validation.at_most("`errorDetails.type`", details.type, MAX_ERROR_TYPE_LENGTH)
    stored = {k: v for k, v in dataclasses.asdict(details).items() if v is not None}
    return (details.message if error is None else error), stored
