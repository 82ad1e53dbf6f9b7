"""Subscriptions over HTTP at /graphql, beside WebSocket: graphql-sse (web/sse.py) and
Apollo's multipart subscriptions (Strawberry's transport: `{}` heartbeat parts every
5 s, as Apollo's spec asks), chosen by the request's Accept header.

Both run through the same middleware as any HTTP request (authentication, CSRF and
size limits) and through the same schema as WebSocket operations (scopes, visibility,
shared executions, replay, access re-checks).

A WebSocket carries at most 100 subscriptions (Strawberry closes it with 4429 past
that); an HTTP stream carries one, so the limit is per principal instead
(MAX_HTTP_STREAMS_PER_PRINCIPAL): past it, a new stream is refused with 429 before
anything runs. The development user, the single local user, has no limit.

A stream ends when its credential expires, as a WebSocket does (web/socket_expiry.py):
an UNAUTHENTICATED `next` and the stream's end, then nothing more.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.streaming import (
    HTTPStreamTransport,
    JSONEncoder,
    MultipartSubscriptionTransport,
    SSETransport,
)
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL

from config import Settings
from resolvers.context import Context
from resolvers.errors import Unauthenticated
from resolvers.principal import Principal
from web.authentication import graphql_error, principal_of
from web.counted_sockets import resumes
from web.limits import operation_of
from web.metrics import Metrics
from web.socket_expiry import EXPIRED, seconds_until
from web.sse import event_stream_transport, resumable

HTTP_STREAM_PROTOCOLS = (GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL)
# The transport label of each stream transport's operations in the metrics.
TRANSPORTS = {SSETransport.protocol: "sse", MultipartSubscriptionTransport.protocol: "multipart"}
# While a stream's response runs: its transport, and where its operation's count is
# held until the response ends. The operation is known only once its body is parsed.
_COUNTING: ContextVar[tuple[str, ExitStack] | None] = ContextVar("counting", default=None)


class StreamingGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app with resumable SSE and a per-principal limit on streams
    (enabled by HTTP_STREAM_PROTOCOLS among its `subscription_protocols`)."""

    def __init__(self, schema: Schema, settings: Settings, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.settings = settings
        self.metrics = metrics
        # What web.sse reads a request's root field from.
        self.graphql_schema = schema._schema
        self.stream_transport_classes_by_protocol = {
            MULTIPART_SUBSCRIPTION_PROTOCOL: MultipartSubscriptionTransport,
            GRAPHQL_SSE_PROTOCOL: event_stream_transport(settings.sse_heartbeat_seconds),
        }
        self.stream_slots = StreamSlots(settings.max_http_streams_per_principal)
        self.max_query_tokens = settings.max_query_tokens

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        if isinstance(data, list):
            return data  # a batch never streams (Strawberry refuses it)
        data = resumable(data, request.headers, self.graphql_schema, self.max_query_tokens)
        counting = _COUNTING.get()
        if counting is not None:
            transport, held = counting
            held.enter_context(self.counted(transport, data))
        return data

    async def parse_operation(self, request: Request) -> GraphQLRequestData:
        """One operation's body (web.sse_single), refused (HTTPException) as Strawberry
        refuses any request's, and not rewritten."""
        data = await super().parse_http_body(self.request_adapter_class(request))
        if isinstance(data, list):
            raise HTTPException(400, "one operation per request")
        return data

    def counted(self, transport: str, data: GraphQLRequestData) -> AbstractContextManager[None]:
        """The metrics' count of one streamed operation, held while it runs."""
        node = operation_of(data.query, data.operation_name, self.settings)
        resumed = node is not None and resumes(node, data.variables or {})
        return self.metrics.operation(transport, node, resumed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Counted around the whole response: a stream's ends (completed, failed, its
        # client gone) all return from here, and a refusal comes before anything runs.
        transport = self._get_stream_transport_from_headers(Headers(scope=scope))
        if scope["type"] != "http" or transport is None:
            await super().__call__(scope, receive, send)
            return
        principal = principal_of(scope)
        refusal = self.stream_slots.refusal(principal)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        with self.stream_slots.held(principal), ExitStack() as counted:
            token = _COUNTING.set((TRANSPORTS[transport.protocol], counted))
            try:
                await self._until_expiry(principal, transport, scope, receive, send)
            finally:
                _COUNTING.reset(token)

    async def _until_expiry(
        self,
        principal: Principal,
        transport: HTTPStreamTransport,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """The response, cut at the credential's expiry: a stream begun ends with an
        UNAUTHENTICATED result; one not begun yet is refused as the credential would be."""
        if principal.expires_at is None:
            await super().__call__(scope, receive, send)
            return
        sent = {"started": False, "ended": False}

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                sent["ended"] = True
            await send(message)

        deadline = asyncio.timeout(seconds_until(principal.expires_at))
        try:
            async with deadline:
                await super().__call__(scope, receive, watched)
        except TimeoutError:
            if not deadline.expired():
                raise
            if sent["ended"]:
                return
            if not sent["started"]:
                await graphql_error(EXPIRED, Unauthenticated.code, 401)(scope, receive, send)
                return
            farewell = expired_end(transport, self.encode_json_string)
            await send({"type": "http.response.body", "body": farewell.encode()})


class StreamSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[Principal] = Counter()

    def refusal(self, principal: Principal) -> Response | None:
        """429 when `principal` holds every slot already; None: it may open one more."""
        if principal.unrestricted or self.open[holder(principal)] < self.limit:
            return None
        return graphql_error(
            f"too many subscriptions open over HTTP (at most {self.limit} at once); "
            "close one, or run several over one WebSocket",
            "TOO_MANY_REQUESTS",
            429,
            **{"Retry-After": "1"},
        )

    def take(self, principal: Principal) -> Callable[[], None]:
        """One of the principal's slots, and the function that gives it back (once)."""
        key = holder(principal)
        self.open[key] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.open[key] -= 1
                if self.open[key] <= 0:
                    del self.open[key]

        return release

    @contextmanager
    def held(self, principal: Principal) -> Iterator[None]:
        """One of the principal's slots, held while the block runs."""
        release = self.take(principal)
        try:
            yield
        finally:
            release()


def expired_result() -> GraphQLHTTPResponse:
    return {
        "data": None,
        "errors": [{"message": EXPIRED, "extensions": {"code": Unauthenticated.code}}],
    }


def expired_end(transport: HTTPStreamTransport, encode_json: JSONEncoder) -> str:
    """What a stream sends last when its credential expires."""
    return transport.encode_next(expired_result(), encode_json) + transport.encode_complete()


def holder(principal: Principal) -> Principal:
    """Who holds a slot: two tokens of one user are one holder, whenever each expires."""
    return dataclasses.replace(principal, expires_at=None)
