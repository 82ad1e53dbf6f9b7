"""A deadline for request bodies: ASGI middleware for every HTTP route.

uvicorn waits for a body as long as its bytes keep coming, one at a time if need be.
A body that has not arrived whole `seconds` after the request's head is answered 408
(GraphQL-shaped, `REQUEST_TIMEOUT`) and its connection closed; the app is told the
client went away. The head has a deadline of its own (web/header_timeout.py).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.authentication import graphql_error

DISCONNECT: Message = {"type": "http.disconnect"}


class BodyTimeout(Exception):
    """The deadline passed after the response had started: no 408 can be sent any more."""


class RequestBodyTimeout:
    """ASGI middleware: each HTTP request's body must arrive within `seconds`."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = BodyByDeadline(scope, receive, send, self.seconds)
        await self.app(scope, request.receive, request.send)


class BodyByDeadline:
    """One request's receive and send, with its body's deadline."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, seconds: float) -> None:
        self.scope = scope
        self.server_receive = receive
        self.server_send = send
        self.seconds = seconds
        self.deadline = asyncio.get_running_loop().time() + seconds
        self.body_complete = False
        self.response_started = False
        self.timed_out = False

    async def receive(self) -> Message:
        if self.timed_out:
            return DISCONNECT
        if self.body_complete:
            # Past the body, receive only waits for the client to leave: no deadline.
            return await self.server_receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self.server_receive()
        except TimeoutError:
            await self.time_out()
            return DISCONNECT
        if message["type"] == "http.request" and not message.get("more_body", False):
            self.body_complete = True
        return message

    async def send(self, message: Message) -> None:
        if self.timed_out:
            return  # the 408 was the answer
        if message["type"] == "http.response.start":
            self.response_started = True
        await self.server_send(message)

    async def time_out(self) -> None:
        if self.response_started:
            # An exception after the response started is how ASGI has the server drop
            # the connection.
            raise BodyTimeout(f"the request body did not arrive within {self.seconds:g} s")
        self.timed_out = True
        response = graphql_error(
            f"The request body did not arrive within {self.seconds:g} s",
            "REQUEST_TIMEOUT",
            408,
            # The rest of the body may still be on its way: the connection cannot serve
            # another request.
            Connection="close",
        )
        await response(self.scope, self.server_receive, self.server_send)
