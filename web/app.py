"""The Starlette app: GraphQL over HTTP and WebSocket at /graphql, and /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import OperationType
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from config import Settings
from migrations import upgrade_to_head
from resolvers.context import Context
from resolvers.db import Database, brief, is_unavailable
from resolvers.errors import RETRY_AFTER_SECONDS, Unauthenticated, Unavailable
from resolvers.principal import Principal
from resolvers.retention import run_sweeper
from schema import build_schema
from schema.errors import is_retryable
from subscriptions.backends import create_broadcast
from subscriptions.bus import EventBus
from web.authentication import Authenticate, principal_of, websocket_principal
from web.body_timeout import RequestBodyTimeout
from web.counted_sockets import CountedSocketHandler
from web.downloads import download_routes
from web.encoding import MessageEncoder
from web.health import health_routes
from web.http_spec import GraphQLOverHTTP, names_no_operation
from web.http_streams import HTTP_STREAM_PROTOCOLS, StreamingGraphQL
from web.limits import Limits, operation_of
from web.metrics import Metrics, Outcome, metrics_routes, ran
from web.otlp import otlp_routes
from web.pages import graphiql_page, page_routes
from web.possible_types import possible_types_routes
from web.request_id import RequestId, install_log_field
from web.request_id import current as current_request_id
from web.sse_single import SingleConnections

log = logging.getLogger("threadline")
# WebSocket close code 1013, "Try Again Later": a server that cannot serve for now.
TRY_AGAIN_LATER = 1013


class GraphQLApp(StreamingGraphQL):
    """Strawberry's ASGI app with our typed context: a fresh one per request, and per
    operation on a socket (schema.sharing)."""

    # A socket ends when the credential its connection_init carried expires; its
    # operations are counted.
    graphql_transport_ws_handler_class = CountedSocketHandler

    def __init__(
        self, database: Database, settings: Settings, bus: EventBus, metrics: Metrics
    ) -> None:
        # Only graphql-transport-ws: the legacy graphql-ws protocol has had auth bypasses.
        # Over HTTP: graphql-sse and multipart subscriptions (web/http_streams.py).
        super().__init__(
            build_schema(settings),
            settings,
            metrics,
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, *HTTP_STREAM_PROTOCOLS),
            allowed_origins=settings.allowed_origins,
        )
        self.database = database
        self.bus = bus
        self.encoder = MessageEncoder()

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's page loads GraphiQL from a CDN; ours from this app (web/pages.py).
        return graphiql_page()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        # A WebSocket is nobody until its connection_init names it (on_ws_connect).
        principal = (
            Principal.nobody() if isinstance(request, WebSocket) else principal_of(request.scope)
        )
        context = Context.create(self.database, self.settings, self.bus, principal)
        context.request_id = current_request_id.get()  # the X-Request-ID (web.request_id)
        context.counters = self.metrics.counters  # the app's one, read at /metrics
        return context

    def encode_json(self, data: object) -> str:
        return self.encoder.encode(data)

    def parse_json(self, data: str | bytes) -> Any:
        """A request body, or GET variables: a JSON object (or a batch's list).

        Strawberry catches only JSONDecodeError; bytes that are not UTF-8, numbers
        past the digit limit and nesting past the recursion limit raise others, and
        a scalar body fails later: each would be a 500.
        """
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return parsed

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # Strawberry would run a subscription over HTTP that asks for no stream (by its
        # Accept header) as a query, whose stream field then fails as a server error.
        node = operation_of(request_data.query, request_data.operation_name, self.settings)
        operation = None if node is None else node.operation
        if node is None and names_no_operation(
            request_data.query, request_data.operation_name, self.settings
        ):
            raise HTTPException(400, "The document names no single operation: send operationName")
        if operation is OperationType.SUBSCRIPTION:
            raise HTTPException(
                400,
                "Subscriptions run over WebSocket (graphql-transport-ws), or over HTTP with "
                "Accept: text/event-stream (graphql-sse) or multipart/mixed;"
                'subscriptionSpec="1.0" (Apollo), at /graphql',
            )
        outcome = Outcome()
        with self.metrics.operation("http", node, outcome=outcome):
            result = await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
            outcome.ran = ran(result)
        self.metrics.count_errors((e.extensions or {}).get("code") for e in result.errors or ())
        if retry_later(result, operation, context.commits):
            sub_response.status_code = 503
            sub_response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return result

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Unavailable as exc:
            # Raised by on_ws_connect, the socket accepted: graphql-transport-ws clients
            # reconnect after a close code below 4000, and 1013 says when: later.
            with contextlib.suppress(OSError):  # the client may have gone meanwhile
                await send(
                    {"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": exc.message}
                )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        try:
            principal = await websocket_principal(
                context.connection_params, self.settings, self.database
            )
        except Unauthenticated as exc:
            # graphql-transport-ws closes the socket with 4403 Forbidden.
            log.info("WebSocket refused: %s", exc.message)
            raise ConnectionRejectionError from None
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("WebSocket asked to retry: the database is unavailable: %s", brief(exc))
            raise Unavailable("the database is unavailable; reconnect in a moment") from exc
        context.authenticated_as(principal)
        return None


def retry_later(result: ExecutionResult, operation: OperationType | None, commits: int) -> bool:
    """Whether the response is a 503 that asks for the same request again: an error is
    UNAVAILABLE and, for a mutation, none of its transactions committed. (One that
    committed wrote, though its payload or a later field failed and a non-null field
    nulled the whole `data`: repeating it, as proxies do on a 503, would write again.)"""
    if not any(is_retryable(error) for error in result.errors or ()):
        return False
    return operation is not OperationType.MUTATION or commits == 0


def create_app(settings: Settings) -> Starlette:
    """An app for these settings; nothing connects until its lifespan starts."""
    install_log_field()
    database = Database.from_settings(settings)
    engine = database.engine
    bus = EventBus(
        create_broadcast(settings.broadcast_url),
        database.row_sessions,
        settings.subscriber_queue_size,
        settings.live_recheck_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await upgrade_to_head(engine)
        await bus.start()
        sweeper = None
        if settings.sweep_interval_seconds > 0:
            sweeper = asyncio.create_task(run_sweeper(database, settings, bus))
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            await bus.stop()
            await engine.dispose()

    metrics = Metrics(engine, bus)
    graphql_app = GraphQLApp(database, settings, bus, metrics)
    single_sse = SingleConnections(graphql_app, settings.sse_heartbeat_seconds)
    app = Starlette(
        routes=[
            Route(
                "/graphql",
                GraphQLOverHTTP(Limits(Authenticate(single_sse, settings, database), settings)),
                # PUT and DELETE: graphql-sse's single connection mode (web/sse_single.py).
                methods=["GET", "POST", "PUT", "DELETE"],
            ),
            WebSocketRoute("/graphql", graphql_app),
            *health_routes(database, bus),
            *possible_types_routes(settings, graphql_app.schema, database),
            *otlp_routes(settings, database, bus, metrics),
            *metrics_routes(settings, metrics),
            *download_routes(settings, database),
            *page_routes(settings),
        ],
        # Every HTTP route (GraphQL, OTLP): a body must arrive in time; WebSockets pass.
        middleware=[
            # First: every response, refusals included, carries the request's id.
            Middleware(RequestId),
            Middleware(RequestBodyTimeout, seconds=settings.request_body_timeout_seconds),
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.database = database
    app.state.bus = bus
    # Its shared subscription streams are what a test or an operator may inspect.
    app.state.schema = graphql_app.schema
    app.state.settings = settings
    return app
