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
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from config import Settings
from migrations import upgrade_to_head
from resolvers.context import Context
from resolvers.db import Database
from resolvers.errors import Unauthenticated
from resolvers.principal import Principal
from resolvers.retention import run_sweeper
from schema import build_schema
from subscriptions.backends import create_broadcast
from subscriptions.bus import EventBus
from web.authentication import Authenticate, principal_of, websocket_principal
from web.body_timeout import RequestBodyTimeout
from web.encoding import MessageEncoder
from web.limits import Limits, operation_type
from web.otlp import otlp_route
from web.pages import graphiql_page, page_routes
from web.socket_expiry import ExpiringSocketHandler

log = logging.getLogger("threadline")


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI app with our typed context (a fresh one, and loaders, per request)."""

    # A socket ends when the credential its connection_init carried expires.
    graphql_transport_ws_handler_class = ExpiringSocketHandler

    def __init__(self, database: Database, settings: Settings, bus: EventBus) -> None:
        # Only graphql-transport-ws: the legacy graphql-ws protocol has had auth bypasses.
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            allowed_origins=settings.allowed_origins,
            keep_alive=True,
            keep_alive_interval=15,
        )
        self.database = database
        self.settings = settings
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
        return Context.create(self.database, self.settings, self.bus, principal)

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
        # Strawberry would run a subscription over HTTP as a query, whose stream
        # field then fails as a server error.
        operation = operation_type(request_data.query, request_data.operation_name, self.settings)
        if operation is OperationType.SUBSCRIPTION:
            raise HTTPException(
                400, "Subscriptions run over WebSocket (graphql-transport-ws) at /graphql"
            )
        return await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
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
        context.authenticated_as(principal)
        return None


def create_app(settings: Settings) -> Starlette:
    """An app for these settings; nothing connects until its lifespan starts."""
    database = Database.from_url(settings.database_url, settings.statement_timeout_ms)
    engine = database.engine
    bus = EventBus(
        create_broadcast(settings.broadcast_url),
        database.row_sessions,
        settings.subscriber_queue_size,
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

    async def healthz(request: Request) -> Response:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to reach the database means "not healthy"
            log.warning("health check failed: %s", exc)
            return JSONResponse(
                {"status": "unavailable", "database": "unreachable"}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    graphql_app = GraphQLApp(database, settings, bus)
    app = Starlette(
        routes=[
            Route(
                "/graphql",
                Limits(Authenticate(graphql_app, settings, database), settings),
                methods=["GET", "POST"],
            ),
            WebSocketRoute("/graphql", graphql_app),
            Route("/healthz", healthz, methods=["GET"]),
            otlp_route(settings, database, bus),
            *page_routes(settings),
        ],
        # Every HTTP route (GraphQL, OTLP): a body must arrive in time; WebSockets pass.
        middleware=[Middleware(RequestBodyTimeout, seconds=settings.request_body_timeout_seconds)],
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.database = database
    app.state.bus = bus
    # Its shared subscription streams are what a test or an operator may inspect.
    app.state.schema = graphql_app.schema
    app.state.settings = settings
    return app
