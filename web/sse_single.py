"""graphql-sse's single connection mode: one event stream carries many operations.

    PUT    /graphql                       -> 201, a token (the reservation)
    GET    /graphql  (token, Accept: text/event-stream) -> the stream
    POST   /graphql  (token, {query, variables, extensions: {operationId}}) -> 202
    DELETE /graphql?operationId=ID (token) -> 200, the operation ends

The token travels in `X-GraphQL-Event-Stream-Token` (or a `token` query parameter for
the GET). Results come on the stream as `next` events holding `{"id", "payload"}`, the
end of an operation as `complete` holding `{"id"}`.

A reservation belongs to the principal that made it: operations are started and
stopped with that principal's credential (another's token is NOT_FOUND, as an unknown
one), and they run as any other (Strawberry's schema: scopes, visibility, shared
executions). The stream itself is opened with the token alone (a browser's EventSource
cannot send headers): the token is a secret of 256 bits. A reservation holds one of its
principal's HTTP stream slots (web.http_streams), and so does each running operation:
a principal runs at most MAX_HTTP_STREAMS_PER_PRINCIPAL in all. A reservation ends with
its stream, or after RESERVATION_SECONDS if no stream opened, and its operations with it.

Credentials expire here as on a WebSocket: an operation ends (an UNAUTHENTICATED `next`,
then `complete`) when the credential that started it or the reservation's expires; the
stream ends when the reservation's does.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.streaming import merge_stream_with_heartbeat
from strawberry.types import ExecutionResult

from resolvers.principal import Principal
from schema.errors import classify
from web.authentication import graphql_error, principal_of
from web.http_streams import (
    StreamingGraphQL,
    StreamSlots,
    expired_result,
    holder,
)
from web.request_id import current as current_request_id
from web.socket_expiry import seconds_until
from web.sse import event_stream_transport

TOKEN_HEADER = "x-graphql-event-stream-token"
TOKEN_PARAMETER = "token"
RESERVATION_SECONDS = 30.0
# Operations one stream carries at once, as a WebSocket (Strawberry's default).
MAX_OPERATIONS = 100
UNKNOWN = "no such event stream reservation"


@dataclass(eq=False)
class Reservation:
    principal: Principal
    release: Callable[[], None]
    # Encoded SSE events; a full queue holds its operations back.
    events: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    operations: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    streaming: bool = False
    expiry: asyncio.TimerHandle | None = None
    # Its credential expired: operations cancelled now end with UNAUTHENTICATED.
    expired: bool = False


class SingleConnections:
    """ASGI middleware before the GraphQL app (after authentication): requests that carry
    a token, and reservations, are this mode's; the rest go on."""

    def __init__(self, app: StreamingGraphQL, heartbeat_seconds: float) -> None:
        self.app = app
        self.reservations: dict[str, Reservation] = {}
        self.sse = event_stream_transport(heartbeat_seconds)()

    @property
    def slots(self) -> StreamSlots:
        return self.app.stream_slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._handler(scope)
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await handler(request)
        await response(scope, receive, send)

    def _handler(self, scope: Scope) -> Callable[[Request], Any] | None:
        if scope["type"] != "http":
            return None
        if scope["method"] == "PUT":
            return self._reserve
        request = Request(scope)
        token = request.headers.get(TOKEN_HEADER) or request.query_params.get(TOKEN_PARAMETER)
        if not token:
            return None
        handlers = {"GET": self._stream, "POST": self._start, "DELETE": self._stop}
        handler = handlers.get(scope["method"])
        return None if handler is None else lambda r: handler(r, token)

    async def _reserve(self, request: Request) -> Response:
        principal = principal_of(request.scope)
        refusal = self.slots.refusal(principal)
        if refusal is not None:
            return refusal
        token = secrets.token_urlsafe(32)
        reservation = Reservation(principal, self.slots.take(principal))
        self.reservations[token] = reservation
        loop = asyncio.get_running_loop()
        reservation.expiry = loop.call_later(RESERVATION_SECONDS, self._end, token)
        return PlainTextResponse(token, status_code=201)

    def _owned(self, request: Request, token: str) -> Reservation | None:
        reservation = self.reservations.get(token)
        if reservation is None or holder(reservation.principal) != holder(
            principal_of(request.scope)
        ):
            return None
        return reservation

    async def _stream(self, request: Request, token: str) -> Response:
        reservation = self.reservations.get(token)
        if reservation is None:
            return graphql_error(UNKNOWN, "NOT_FOUND", 404)
        if reservation.streaming:
            return graphql_error("this reservation's stream is open already", "CONFLICT", 409)
        reservation.streaming = True
        if reservation.expiry is not None:
            reservation.expiry.cancel()

        async def events() -> AsyncGenerator[str, None]:
            try:
                async with asyncio.timeout(_seconds_left(reservation.principal)):
                    while True:
                        yield await reservation.events.get()
            except TimeoutError:
                for event in await self._expire(reservation):
                    yield event
            finally:
                self._end(token)

        stream = merge_stream_with_heartbeat(
            events,
            lambda: self.sse.heartbeat_message(self.app.encode_json_string),
            self.sse.heartbeat_interval,
            send_initial_heartbeat=False,
        )
        return StreamingResponse(stream(), headers=dict(self.sse.headers))

    async def _start(self, request: Request, token: str) -> Response:
        reservation = self._owned(request, token)
        if reservation is None:
            return graphql_error(UNKNOWN, "NOT_FOUND", 404)
        try:
            data = await self.app.parse_operation(request)
        except HTTPException as error:
            return graphql_error(error.reason, "BAD_REQUEST", error.status_code)
        operation_id = (data.extensions or {}).get("operationId")
        if not isinstance(operation_id, str) or not operation_id:
            message = "an operation needs `extensions.operationId`, a string"
            return graphql_error(message, "BAD_REQUEST", 400)
        if operation_id in reservation.operations:
            return graphql_error(f"operation '{operation_id}' is running", "CONFLICT", 409)
        if len(reservation.operations) >= MAX_OPERATIONS:
            message = f"too many operations on one stream (at most {MAX_OPERATIONS})"
            return graphql_error(message, "TOO_MANY_REQUESTS", 429)
        principal = principal_of(request.scope)
        refusal = self.slots.refusal(principal)
        if refusal is not None:
            return refusal
        release = self.slots.take(principal)
        run = self._run(request, reservation, operation_id, data, release)
        reservation.operations[operation_id] = asyncio.create_task(run)
        return Response(status_code=202)

    async def _run(
        self,
        request: Request,
        reservation: Reservation,
        operation_id: str,
        data: GraphQLRequestData,
        release: Callable[[], None],
    ) -> None:
        """One operation, from its start to its `complete`, whatever ends it."""
        # Whichever expires first: the credential that started it, or the reservation's.
        deadline = asyncio.timeout(
            _seconds_left(principal_of(request.scope), reservation.principal)
        )
        try:
            with self.app.counted("sse", data):
                async with deadline:
                    await self._results(request, reservation, operation_id, data)
        except asyncio.CancelledError:
            if reservation.expired:
                self._send(reservation, operation_id, expired_result())
            raise
        except Exception as error:
            self._send(
                reservation,
                operation_id,
                expired_result() if deadline.expired() else _masked(error),
            )
        finally:
            release()
            reservation.operations.pop(operation_id, None)
            complete = self.sse.encode_event(
                "complete", self.app.encode_json_string({"id": operation_id})
            )
            with contextlib.suppress(asyncio.QueueFull):
                reservation.events.put_nowait(complete)

    async def _results(
        self,
        request: Request,
        reservation: Reservation,
        operation_id: str,
        data: GraphQLRequestData,
    ) -> None:
        context = await self.app.get_context(request, Response())
        results = await self.app.schema.stream(
            data.query,
            variable_values=data.variables,
            context_value=context,
            operation_name=data.operation_name,
            operation_extensions=data.extensions,
        )
        async with contextlib.aclosing(results):
            async for result in results:
                # No incremental delivery (@defer, @stream): the schema enables none.
                assert isinstance(result, ExecutionResult)
                payload = await self.app.process_result(request, result)
                await reservation.events.put(self._next(operation_id, payload))

    def _next(self, operation_id: str, payload: GraphQLHTTPResponse) -> str:
        data = self.app.encode_json_string({"id": operation_id, "payload": payload})
        return self.sse.encode_event("next", data)

    def _send(
        self, reservation: Reservation, operation_id: str, payload: GraphQLHTTPResponse
    ) -> None:
        """A last result, sent without waiting (a full queue means a client not reading)."""
        with contextlib.suppress(asyncio.QueueFull):
            reservation.events.put_nowait(self._next(operation_id, payload))

    async def _expire(self, reservation: Reservation) -> list[str]:
        """The reservation's credential expired: its operations end, each with an
        UNAUTHENTICATED result and `complete`; the events still queued, to send last."""
        reservation.expired = True
        running = list(reservation.operations.values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        queued = []
        while not reservation.events.empty():
            queued.append(reservation.events.get_nowait())
        return queued

    async def _stop(self, request: Request, token: str) -> Response:
        reservation = self._owned(request, token)
        if reservation is None:
            return graphql_error(UNKNOWN, "NOT_FOUND", 404)
        task = reservation.operations.get(request.query_params.get("operationId", ""))
        if task is not None:
            task.cancel()
        return Response(status_code=200)

    def _end(self, token: str) -> None:
        """The reservation ends: its stream closed, or none opened in time."""
        reservation = self.reservations.pop(token, None)
        if reservation is None:
            return
        if reservation.expiry is not None:
            reservation.expiry.cancel()
        for task in reservation.operations.values():
            task.cancel()
        reservation.release()


def _masked(error: Exception) -> GraphQLHTTPResponse:
    """Strawberry's errors are results: anything raised is ours, masked and logged."""
    masked = classify(GraphQLError(str(error), original_error=error), current_request_id.get())
    return {"data": None, "errors": [masked.formatted]}


def _seconds_left(*principals: Principal) -> float | None:
    """Until the first of the principals' credentials expires (None: none does)."""
    ends = [p.expires_at for p in principals if p.expires_at is not None]
    return seconds_until(min(ends)) if ends else None
