"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for each request's head.

uvicorn's keep-alive timer is cancelled by the first byte that arrives, and none runs
on a new connection: a client that trickles a request head a byte at a time (a
slowloris) holds its connection for ever. An ASGI middleware cannot help, as the app
sees a request only once its head is complete; so the deadline lives here: armed when
the connection opens and when a response finishes, cancelled once a request's head has
been parsed. The body has a deadline of its own (web/body_timeout.py).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutProtocol(H11Protocol):
    """Closes a connection whose next request head takes longer than `header_timeout`."""

    header_timeout: ClassVar[float]
    head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def handle_events(self) -> None:
        # uvicorn builds a new scope for each request head it parses (an HTTP request or
        # a WebSocket upgrade, after which this protocol no longer owns the transport).
        scope = self.scope
        super().handle_events()
        if self.scope is not scope:
            self._cancel_head_deadline()

    def on_response_complete(self) -> None:
        # Armed before uvicorn goes on: it may parse a pipelined head at once, and that
        # cancels the deadline in handle_events. A client still sending the body of the
        # request just answered is on this deadline too: uvicorn discards those bytes,
        # and only after them may a next head come.
        if not self.transport.is_closing():
            self._arm_head_deadline()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self.head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _cancel_head_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_too_slow(self) -> None:
        # h11 sends no response before a request's head: the connection is just closed.
        self.head_deadline = None
        self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class to give uvicorn (`http=`), which builds it with its own
    arguments only: the timeout travels as a class attribute."""

    class Protocol(HeaderTimeoutProtocol):
        header_timeout = seconds

    return Protocol
