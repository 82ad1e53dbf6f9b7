"""X-Request-ID: every HTTP request and WebSocket gets one, and every log line its id.

A request's own X-Request-ID is kept when it is visible ASCII (no spaces), at most 128
characters (a proxy or a client correlating its calls chose it); otherwise a new one is
made. The id is returned in the response's X-Request-ID header (on a WebSocket, in
the upgrade's response), is the `requestId` of masked errors (GraphQLApp.get_context
gives it to the operation's context) and is each log record's `request_id` ("-" outside
a request), through a contextvar that asyncio copies into every task a request starts.
"""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
MAX_LENGTH = 128
NONE = "-"

current: ContextVar[str] = ContextVar("request_id", default=NONE)


def accepted(value: str | None) -> str:
    """The client's id if it is one to keep, else a new one."""
    if value and len(value) <= MAX_LENGTH and all(" " < char <= "~" for char in value):
        return value
    return uuid.uuid4().hex


class RequestId:
    """ASGI middleware: the request's id in the contextvar and in the response's head."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = accepted(Headers(scope=scope).get(HEADER))
        header = (HEADER.encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            # A response's head, a WebSocket's accept, or the refusal of its upgrade.
            if message["type"] in (
                "http.response.start",
                "websocket.accept",
                "websocket.http.response.start",
            ):
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        token = current.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current.reset(token)


def install_log_field() -> None:
    """Give every log record, whoever logs it and whichever handler takes it, the
    `request_id` of the request it was logged in (idempotent)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "adds_request_id", False):
        return

    def record_with_id(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = current.get()
        return record

    record_with_id.adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_id)
