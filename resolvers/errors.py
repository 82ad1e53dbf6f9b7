"""Expected errors: each carries the `extensions.code` a client can branch on."""

from __future__ import annotations


class ThreadlineError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
