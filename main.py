"""Threadline: builds the Starlette app, serves it, and a small CLI.

python main.py serve          # GraphiQL at http://127.0.0.1:8000/graphql
python main.py migrate        # apply Alembic migrations and exit
python main.py demo           # load the sample data (idempotent)
python main.py export-schema  # write schema.graphql
python main.py export ID      # a conversation as JSON (--format markdown: a transcript)
python main.py sweep          # retention, stale and silent agent sessions, once (for cron)
python main.py create-api-key --owner alice --name my-agent --scopes READ,WRITE
python main.py simulate       # a simulated agent run against a running server

Installed (pip install .), the `threadline` command runs the same verbs: threadline serve.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import strawberry
import uvicorn
from graphql import build_client_schema, introspection_from_schema, print_schema
from uvicorn.server import STARTUP_FAILURE

from config import Settings
from migrations import upgrade_to_head
from models.enums import ApiKeyScope
from resolvers.context import Context
from resolvers.db import Database
from resolvers.principal import Principal
from schema import build_schema
from subscriptions.backends import create_broadcast
from subscriptions.bus import EventBus
from web.app import create_app
from web.logging_setup import configure_logging
from web.process import server_options, tune_garbage_collector
from web.startup import (
    AnnouncingServer,
    StartupError,
    bind,
    check_database,
    check_services,
    open_database,
)

log = logging.getLogger("threadline")
SCHEMA_FILE = Path(__file__).resolve().parent / "schema.graphql"
T = TypeVar("T")


async def run_migrated(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on a migrated database, then close the engine. The database of every
    verb that opens one: with the settings' pool and statement timeout, as `serve`'s."""
    database = open_database(settings)
    try:
        await check_database(database)
        await upgrade_to_head(database.engine)
        return await work(database)
    finally:
        await database.engine.dispose()


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
DEVELOPMENT_BANNER = """
************************************************************************
  DEVELOPMENT MODE: no authentication is configured.
  Every request acts as the single user 'dev', who sees and changes
  everything. Serving on loopback only. For real use set AUTH_JWT_SECRET
  (HS256) or AUTH_JWT_PUBLIC_KEY / AUTH_JWT_PUBLIC_KEY_FILE (RS256).
************************************************************************"""


def check_exposure(settings: Settings) -> None:
    """Without authentication the server must not be reachable from other machines."""
    if not settings.auth_enabled and settings.host not in LOOPBACK:
        raise StartupError(
            f"refusing to serve without authentication on {settings.host}: set "
            "AUTH_JWT_SECRET (or AUTH_JWT_PUBLIC_KEY) or bind to 127.0.0.1"
        )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    check_exposure(settings)
    listening = bind(settings.host, settings.port)
    try:
        asyncio.run(check_services(settings))
    except StartupError:
        listening.close()
        raise
    if not settings.auth_enabled:  # once nothing can fail with a one-line cause
        print(DEVELOPMENT_BANNER, file=sys.stderr, flush=True)
    if args.demo:
        cmd_demo(settings, args)
    url = f"http://{settings.host}:{settings.port}/"
    where = settings.database_url.split("@")[-1]
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # uvicorn's loggers go through configure_logging's handler (LOG_FORMAT).
        log_config=None,
        **server_options(settings),
    )
    server = AnnouncingServer(
        config, f"Threadline on {where}; live viewer at {url}, GraphiQL at {url}graphql"
    )
    tune_garbage_collector()
    server.run(sockets=[listening])
    if not server.started:  # uvicorn logged why (its lifespan failed)
        sys.exit(STARTUP_FAILURE)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    asyncio.run(run_migrated(settings, lambda _database: asyncio.sleep(0)))
    print("database is at the latest migration")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from resolvers.demo import load_demo

    async def work(database: Database) -> str:
        return await load_demo(Context.create(database, settings))

    print(asyncio.run(run_migrated(settings, work)))


def cmd_create_api_key(settings: Settings, args: argparse.Namespace) -> None:
    from resolvers.writes.api_keys import create_api_key

    scopes = [ApiKeyScope(s.strip().upper()) for s in args.scopes.split(",") if s.strip()]

    async def work(database: Database) -> str:
        context = Context.create(database, settings, principal=Principal.user(args.owner))
        key, secret = await create_api_key(context, args.name, scopes, args.agent_id)
        return f"{secret}\n(key {key.prefix}… for {key.owner_id}: shown once, store it now)"

    print(asyncio.run(run_migrated(settings, work)))


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> None:
    from agent_sim.agent import Pace
    from agent_sim.run import Options, simulate

    url = args.url or f"http://{settings.host}:{settings.port}/graphql"
    options = Options(
        url=url,
        credential=args.credential,
        conversations=args.conversations,
        rate=args.rate,
        pace=Pace(args.pace),
        human=args.human,
    )
    # httpx logs every request at INFO: hundreds of lines a second under load.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    report = asyncio.run(simulate(options))
    print(report.summary())
    if report.failures:
        sys.exit(1)


def cmd_export(settings: Settings, args: argparse.Namespace) -> None:
    from resolvers import export, transcript
    from resolvers.errors import BadInput
    from resolvers.ids import parse_client_id

    try:
        conversation_id = parse_client_id(args.conversation_id, "Conversation")
    except BadInput as exc:
        sys.exit(exc.message)
    assert conversation_id is not None

    async def work(database: Database) -> str:
        context = Context.create(database, settings)
        if args.format == "markdown":
            text = await transcript.markdown(context, conversation_id)
        else:
            document = await export.export_document(context, conversation_id)
            text = None if document is None else json.dumps(document, indent=2, ensure_ascii=False)
        if text is None:
            sys.exit(f"no conversation {args.conversation_id}")
        return text

    print(asyncio.run(run_migrated(settings, work)))


def cmd_sweep(settings: Settings, args: argparse.Namespace) -> None:
    """One sweep, for cron: its events reach subscribers through BROADCAST_URL."""
    from resolvers.retention import sweep

    async def work(database: Database) -> str:
        bus = EventBus(create_broadcast(settings.broadcast_url), database.row_sessions, 1)
        await bus.start()
        try:
            report = await sweep(Context.create(database, settings, bus))
        finally:
            await bus.stop()
        deleted = ", ".join(f"{n} {table}" for table, n in sorted(report.deleted.items()))
        return (
            f"{report.stale_sessions} stale agent session(s); {report.failed_sessions} "
            f"failed for their agent's silence; deleted: {deleted or 'nothing'}"
        )

    print(asyncio.run(run_migrated(settings, work)))


def default_schema_file() -> Path:
    """The checkout's schema.graphql; installed (no checkout around main.py), the current
    directory's rather than one inside site-packages."""
    in_checkout = (SCHEMA_FILE.parent / "pyproject.toml").is_file()
    return SCHEMA_FILE if in_checkout else Path("schema.graphql").resolve()


def schema_text(schema: strawberry.Schema) -> str:
    """The schema as every client tool prints it from introspection (graphql-js's
    printSchema(buildClientSchema(...)), which graphql-core prints alike), so that
    schema.graphql and a codegen's or registry's copy never differ."""
    introspected = build_client_schema(introspection_from_schema(schema._schema))
    return print_schema(introspected) + "\n"


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> None:
    path = args.output or default_schema_file()
    path.write_text(schema_text(build_schema(settings)))
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="threadline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the API (default)")
    serve.add_argument("--demo", action="store_true", help="load the sample data first")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("demo", help="load the sample data (idempotent)")
    export_schema = commands.add_parser("export-schema", help="write schema.graphql")
    export_schema.add_argument(
        "--output", type=Path, help="default: the checkout's, or ./schema.graphql if installed"
    )
    export = commands.add_parser("export", help="print a conversation as JSON or Markdown")
    export.add_argument("conversation_id", help="the conversation's id (global or UUID)")
    export.add_argument("--format", choices=["json", "markdown"], default="json")
    commands.add_parser("sweep", help="apply retention and mark stale agent sessions, once")
    key = commands.add_parser("create-api-key", help="create an API key for a user")
    key.add_argument("--owner", required=True, help="the user the key acts for")
    key.add_argument("--name", required=True, help="what the key is for")
    key.add_argument("--scopes", default="READ,WRITE", help="READ,WRITE,INGEST (comma-separated)")
    key.add_argument("--agent-id", help="the participant id the key speaks as")
    sim = commands.add_parser("simulate", help="run a simulated agent against a running server")
    sim.add_argument("--url", help="GraphQL endpoint (default: http://HOST:PORT/graphql)")
    sim.add_argument("--credential", help="a JWT or API key (tl_...) when auth is on")
    sim.add_argument("--conversations", type=int, default=1, help="runs to start (default 1)")
    sim.add_argument("--rate", type=float, default=0.0, help="new runs a second (0: all at once)")
    sim.add_argument("--pace", type=float, default=0.5, help="seconds between agent actions")
    sim.add_argument("--human", action="store_true", help="wait for a person to answer")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a variable that does not parse: its message names it
        sys.exit(" ".join([str(exc), *getattr(exc, "__notes__", ())]))
    configure_logging(settings)
    handlers = {
        "serve": cmd_serve,
        None: cmd_serve,
        "migrate": cmd_migrate,
        "demo": cmd_demo,
        "export-schema": cmd_export_schema,
        "export": cmd_export,
        "sweep": cmd_sweep,
        "create-api-key": cmd_create_api_key,
        "simulate": cmd_simulate,
    }
    if args.command is None:
        args.demo = False
    try:
        handlers[args.command](settings, args)
    except StartupError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
