"""Threadline: builds the Starlette app, serves it, and a small CLI.

python main.py serve          # GraphiQL at http://127.0.0.1:8000/graphql
python main.py migrate        # apply Alembic migrations and exit
python main.py demo           # load the sample data (idempotent)
python main.py export-schema  # write schema.graphql
python main.py create-api-key --owner alice --name my-agent --scopes READ,WRITE
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import uvicorn

from config import Settings
from migrations import upgrade_to_head
from models.enums import ApiKeyScope
from resolvers.context import Context
from resolvers.db import Database
from resolvers.principal import Principal
from schema import schema
from web.app import create_app

log = logging.getLogger("threadline")
SCHEMA_FILE = Path(__file__).resolve().parent / "schema.graphql"
T = TypeVar("T")


async def _migrated(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on a migrated database, then close the engine."""
    database = Database.from_url(settings.database_url)
    try:
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
    if settings.auth_enabled:
        return
    if settings.host not in LOOPBACK:
        sys.exit(
            f"refusing to serve without authentication on {settings.host}: set "
            "AUTH_JWT_SECRET (or AUTH_JWT_PUBLIC_KEY) or bind to 127.0.0.1"
        )
    print(DEVELOPMENT_BANNER, file=sys.stderr, flush=True)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    check_exposure(settings)
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
        # A WebSocket message is held to the same limit as an HTTP body.
        ws_max_size=settings.max_body_bytes,
    )


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    asyncio.run(_migrated(settings, lambda _database: asyncio.sleep(0)))
    print("database is at the latest migration")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from resolvers.demo import load_demo

    async def work(database: Database) -> str:
        return await load_demo(Context.create(database, settings))

    print(asyncio.run(_migrated(settings, work)))


def cmd_create_api_key(settings: Settings, args: argparse.Namespace) -> None:
    from resolvers.writes.api_keys import create_api_key

    scopes = [ApiKeyScope(s.strip().upper()) for s in args.scopes.split(",") if s.strip()]

    async def work(database: Database) -> str:
        context = Context.create(database, settings, principal=Principal.user(args.owner))
        key, secret = await create_api_key(context, args.name, scopes, args.agent_id)
        return f"{secret}\n(key {key.prefix}… for {key.owner_id}: shown once, store it now)"

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
    key = commands.add_parser("create-api-key", help="create an API key for a user")
    key.add_argument("--owner", required=True, help="the user the key acts for")
    key.add_argument("--name", required=True, help="what the key is for")
    key.add_argument("--scopes", default="READ,WRITE", help="READ,WRITE,INGEST (comma-separated)")
    key.add_argument("--agent-id", help="the participant id the key speaks as")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr)
    handlers = {
        "serve": cmd_serve,
        None: cmd_serve,
        "migrate": cmd_migrate,
        "demo": cmd_demo,
        "export-schema": cmd_export_schema,
        "create-api-key": cmd_create_api_key,
    }
    if args.command is None:
        args.demo = False
    handlers[args.command](settings, args)


if __name__ == "__main__":
    main()
