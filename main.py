"""Threadline: builds the Starlette app, serves it, and a small CLI.

python main.py serve          # GraphiQL at http://127.0.0.1:8000/graphql
python main.py migrate        # apply Alembic migrations and exit
python main.py demo           # load the sample data (idempotent)
python main.py export-schema  # write schema.graphql
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from config import Settings
from migrations import upgrade_to_head
from resolvers.context import Context
from resolvers.db import Database
from schema import schema
from subscriptions.backends import create_broadcast
from subscriptions.bus import EventBus

log = logging.getLogger("threadline")
SCHEMA_FILE = Path(__file__).resolve().parent / "schema.graphql"
T = TypeVar("T")


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI app with our typed context (a fresh one, and loaders, per request)."""

    def __init__(self, database: Database, settings: Settings, bus: EventBus) -> None:
        # Only graphql-transport-ws: the legacy graphql-ws protocol has had auth bypasses.
        super().__init__(
            schema,
            graphql_ide="graphiql",
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            allowed_origins=settings.allowed_origins,
            keep_alive=True,
            keep_alive_interval=15,
        )
        self.database = database
        self.settings = settings
        self.bus = bus

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        return Context.create(self.database, self.settings, self.bus)


def create_app(settings: Settings) -> Starlette:
    """An app for these settings; nothing connects until its lifespan starts."""
    database = Database.from_url(settings.database_url)
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
        try:
            yield
        finally:
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
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.database = database
    app.state.bus = bus
    app.state.settings = settings
    return app


async def _migrated(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on a migrated database, then close the engine."""
    database = Database.from_url(settings.database_url)
    try:
        await upgrade_to_head(database.engine)
        return await work(database)
    finally:
        await database.engine.dispose()


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    if args.demo:
        cmd_demo(settings, args)
    url = f"http://{settings.host}:{settings.port}/graphql"
    print(f"Threadline on {settings.database_url.split('@')[-1]}; GraphiQL at {url}", flush=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Per-message deflate costs a zlib context (~300 KiB) per WebSocket and CPU per
        # message per subscriber; event payloads are small.
        ws_per_message_deflate=False,
    )


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    asyncio.run(_migrated(settings, lambda _database: asyncio.sleep(0)))
    print("database is at the latest migration")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from resolvers.demo import load_demo

    async def work(database: Database) -> str:
        return await load_demo(Context.create(database, settings))

    print(asyncio.run(_migrated(settings, work)))


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> None:
    SCHEMA_FILE.write_text(schema.as_str() + "\n")
    print(f"wrote {SCHEMA_FILE}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="threadline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the API (default)")
    serve.add_argument("--demo", action="store_true", help="load the sample data first")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("demo", help="load the sample data (idempotent)")
    commands.add_parser("export-schema", help="write schema.graphql")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr)
    handlers = {
        "serve": cmd_serve,
        None: cmd_serve,
        "migrate": cmd_migrate,
        "demo": cmd_demo,
        "export-schema": cmd_export_schema,
    }
    if args.command is None:
        args.demo = False
    handlers[args.command](settings, args)


if __name__ == "__main__":
    main()
