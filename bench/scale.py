"""The scale benchmark: issue 16's reads at S, M and L (100k, 1M and 5M spans; XS, 4k,
checks that it runs).

For each size it creates a PostgreSQL database on the server of --database-url, builds
the dataset in it (bench/scale_build.py: set-based SQL, triggers on), times every read
through the /graphql endpoint of an in-process app (bench/scale_reads.py) as two callers,
the unrestricted user of development mode and user-0 signed in (who sees 1% of it),
measures OTLP ingestion into it (bench/ingest.py's server and batches), then drops it.
Prints one table of p50 per read and size with the growth factors from size to size,
the database's size per million spans and the build time, and writes
bench/results/scale.json.

    python -m bench scale --size S M L [--runs 5] [--keep | --reuse URL]
    python -m bench.scale --size S     (the same)
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, replace
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url

from bench.harness import parser_on_postgres, write_results
from bench.ingest import batches, measure
from bench.scale_build import build
from bench.scale_data import HUGE_CONVERSATION, SIZES, USERS
from bench.scale_reads import Caller, Targets, Timing
from bench.scale_report import footprint, print_report
from config import Settings
from resolvers.ids import to_global_id
from tests.databases import admin_connection
from tests.identities import bearer, token
from web.app import create_app

# Who reads: None is development mode's single user, who sees everything.
CALLERS: dict[str, str | None] = {"all": None, "user-0": "user-0"}
INGEST_RUNS_PER_BATCH = 16


@asynccontextmanager
async def database(server: str, size: str, keep: bool) -> AsyncIterator[str]:
    """A new database on `server`, dropped afterwards unless kept."""
    name = f"threadline_scale_{size.lower()}_{uuid.uuid4().hex[:8]}"
    admin = await admin_connection(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        try:
            yield url
        finally:
            if keep:
                print(f"kept: {url}")
            else:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def targets_of(url: str) -> Targets:
    connection = await admin_connection(url)
    try:
        row = await connection.fetchrow(
            """SELECT (SELECT max(started_at) + interval '1 hour' FROM traces) AS newest,
                      (SELECT id FROM conversations WHERE owner_id = 'user-0'
                       ORDER BY message_count, id LIMIT 1) AS writable,
                      (SELECT last_message_seq / 2 FROM conversations WHERE id = $1) AS middle""",
            HUGE_CONVERSATION,
        )
    finally:
        await connection.close()
    return Targets(row["newest"], to_global_id("Conversation", row["writable"]), row["middle"])


async def read_as(url: str, user: str | None, runs: int, targets: Targets) -> dict[str, Timing]:
    """Every read, as `user` signed in with a JWT (or in development mode, for None)."""
    secret = secrets.token_urlsafe(32) if user else None
    settings = replace(
        Settings.from_env(),
        database_url=url,
        sweep_interval_seconds=0,
        jwt_secret=secret,
        jwt_public_key=None,
    )
    headers = bearer(token(user, key=secret)) if user and secret else {}
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=None
        ) as http:
            return await Caller(http, headers, runs).all(targets)


async def ingestion(url: str, count: int) -> dict[str, Any]:
    """OTLP/HTTP batches posted to a real server on the built database (in this
    process's environment: with AUTH_JWT_SECRET set, it refuses them, and says so)."""
    bodies = batches(count + 2, INGEST_RUNS_PER_BATCH)
    options = argparse.Namespace(clients=4, runs_per_batch=INGEST_RUNS_PER_BATCH)
    try:
        return asdict(await measure("postgresql", url, options, bodies))
    except (httpx.HTTPError, AssertionError) as error:
        return {"spans_per_s": None, "error": f"{type(error).__name__}: {error}"}


async def measure_size(url: str, args: argparse.Namespace, size: str) -> dict[str, Any]:
    built = {} if args.reuse else await build(url, SIZES[size], args.connections)
    figures: dict[str, Any] = {"size": size, "build_seconds": built, **await footprint(url)}
    targets = await targets_of(url)
    figures["reads"] = {}
    for caller, user in CALLERS.items():
        print(f"  reads as {caller}:", flush=True)
        timings = await read_as(url, user, args.runs, targets)
        figures["reads"][caller] = {name: asdict(t) for name, t in timings.items()}
    figures["ingest"] = await ingestion(url, args.ingest_batches)
    ingest = figures["ingest"]
    print(f"  ingestion: {ingest.get('error') or ingest['spans_per_s']} spans/s", flush=True)
    return figures


async def main(args: argparse.Namespace) -> None:
    results = []
    for size in args.size:
        print(f"== size {size}: {SIZES[size]}", flush=True)
        if args.reuse:
            results.append(await measure_size(args.reuse, args, size))
            continue
        async with database(args.database_url, size, args.keep) as url:
            results.append(await measure_size(url, args, size))
    print_report(results, list(CALLERS))
    write_results("scale", {"users": USERS, "runs": args.runs, "sizes": results})


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_on_postgres(__doc__ or "")
    parser.prog = "python -m bench scale"
    parser.add_argument("--size", nargs="+", choices=list(SIZES), default=["S"])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each read")
    parser.add_argument("--keep", action="store_true", help="keep the database (for EXPLAIN)")
    parser.add_argument("--reuse", metavar="URL", help="time the reads on a database built before")
    parser.add_argument("--connections", type=int, default=2, help="sessions that build at once")
    parser.add_argument("--ingest-batches", type=int, default=20, help="OTLP requests to time")
    args = parser.parse_args(argv)
    if args.reuse and len(args.size) > 1:
        parser.error("--reuse takes one --size (the size the database was built at)")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
