"""Expected errors: each carries the `extensions.code` a client can branch on."""

from __future__ import annotations

# Seconds a client is asked to wait before retrying what was UNAVAILABLE (HTTP's
# Retry-After, `extensions.retryAfter`): an outage is either over by then or the
# client backs off on its own.
RETRY_AFTER_SECONDS = 1


class ThreadlineError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message)
        self.message = message
        # More for the client to act on, next to the code (a cursor to resume from).
        self.extensions = extensions


class BadInput(ThreadlineError):
    code = "BAD_USER_INPUT"


class NotFound(ThreadlineError):
    code = "NOT_FOUND"


class Conflict(ThreadlineError):
    code = "CONFLICT"


class Forbidden(ThreadlineError):
    code = "FORBIDDEN"


class Unauthenticated(ThreadlineError):
    code = "UNAUTHENTICATED"


class ResumeRequired(ThreadlineError):
    """A subscription stopped; subscribing again with `after: cursor` misses nothing."""

    code = "RESUME_REQUIRED"


class Unavailable(ThreadlineError):
    """The database cannot serve the request now (unreachable, read-only, full, busy):
    the same request may succeed in a moment."""

    code = "UNAVAILABLE"
