"""Threadline beside a compiled-SQL peer, PostGraphile v4, on the same tables.

    python -m bench peer [--seconds 10] [--rounds 3] [--keep | --reuse URL] [--baseline DIR]

Builds bench.deep_read's dataset (its 50 conversations and conversation page, among
1,000 older conversations and traces, then ANALYZE) in a fresh database,
serves it with `main.py serve` (uvicorn, one process: what `serve` runs, with the
default pool) and with PostGraphile (bench/peer: `npm ci` on first use, pinned by its
package-lock.json), checks that both answer each page with the same rows, then loads
each server in turn with wrk (16 connections, 2 threads), alternating servers for
--rounds rounds. It prints requests/s and p99 per server, page and round, the CPU per
request of the server process and of the database's backends, and the ratio
Threadline / peer of the medians. --baseline DIR serves another checkout beside them
(say, before a change), measured the same way. Figures go to bench/results/peer.json.

Both servers, PostgreSQL and wrk share this machine's cores: the figures are of the
whole, not of a server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, astuple
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench import dataset, deep_read, wrk
from bench.harness import (
    ROOT,
    Server,
    free_port,
    parser_on_postgres,
    print_table,
    server,
    wait_healthy,
    write_results,
)
from bench.peer_queries import Page, pages
from bench.read_baseline import asyncpg_dsn, gid
from config import Settings
from tests.databases import admin_connection, fresh_database
from web.app import create_app

PEER = ROOT / "bench" / "peer"
POSTGRAPHILE = PEER / "node_modules" / ".bin" / "postgraphile"
Results = dict[str, dict[str, list[wrk.Run]]]  # by page, then server
# Older conversations and traces around the measured ones, as bench.deep_read has them.
BACKGROUND = 1000


def install_peer() -> None:
    """PostGraphile as its lock file pins it, installed once into bench/peer."""
    if not POSTGRAPHILE.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER, check=True)


@contextlib.contextmanager
def postgraphile(database_url: str) -> Iterator[Server]:
    """PostGraphile on `database_url`'s schema `public`, as one would run it in
    production: no query log, no GraphiQL."""
    port = free_port()
    command = [
        str(POSTGRAPHILE),
        "--connection",
        asyncpg_dsn(database_url),
        "--schema",
        "public",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-query-log",
        "--disable-graphiql",
        # Its Node interface's `nodeId` field would clash with ingest_receipts.node_id;
        # neither page asks for it.
        "--skip-plugins",
        "graphile-build:NodePlugin",
    ]
    env = {**os.environ, "NODE_ENV": "production"}
    process = subprocess.Popen(command, cwd=PEER, env=env, stdout=subprocess.DEVNULL)
    try:
        yield Server(process, port)
    finally:
        process.terminate()
        process.wait(10)


async def wait_graphql(base: str) -> None:
    """PostGraphile has no health route: wait until it answers a query."""
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                response = await client.post(f"{base}/graphql", json={"query": "{__typename}"})
                if response.status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("PostGraphile did not start")


async def answer(base: str, body: dict[str, Any], who: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{base}/graphql", json=body)
    found: dict[str, Any] = response.json()
    if response.status_code != 200 or found.get("errors"):
        raise RuntimeError(f"{who}: {found}")
    data: dict[str, Any] = found["data"]
    return data


async def same_rows(running: dict[str, Server], page: Page, name: str) -> None:
    """Every server answers `page` without errors and with the same rows."""
    ids = {
        who: (page.peer_ids if who == "peer" else page.threadline_ids)(
            await answer(served.base, body(page, who), who)
        )
        for who, served in running.items()
    }
    expected = ids["peer"]
    for who, found in ids.items():
        if found != expected:
            raise AssertionError(f"{name}: {who} and the peer differ\n{found}\n{expected}")
    sizes = ", ".join(f"{len(v) if isinstance(v, list) else v} {k}" for k, v in expected.items())
    print(f"{name}: the same rows from every server ({sizes})", flush=True)


def body(page: Page, who: str) -> dict[str, Any]:
    return page.peer if who == "peer" else page.threadline


async def build(url: str) -> str:
    """bench.deep_read's dataset in the empty database `url`; the page's global id."""
    settings = Settings(database_url=url, auto_migrate=True, max_page_size=500)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        page_id = await deep_read.seed(app)
        await dataset.build(app.state.database, BACKGROUND, BACKGROUND)
    await deep_read.analyze(url)
    return page_id


@contextlib.asynccontextmanager
async def database(args: argparse.Namespace) -> AsyncIterator[tuple[str, str]]:
    """The database URL and the conversation page's global id: built fresh (dropped
    after unless --keep), or --reuse'd from a kept one."""
    if args.reuse:
        admin = await admin_connection(args.reuse)
        try:
            page = await admin.fetchval(
                "SELECT id FROM conversations WHERE title = 'Conversation 0'"
            )
        finally:
            await admin.close()
        yield args.reuse, gid("Conversation", page)
    elif args.keep:
        name = f"threadline_peer_{uuid.uuid4().hex[:12]}"
        admin = await admin_connection(args.database_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = make_url(args.database_url).set(database=name).render_as_string(False)
        print(f"kept for EXPLAIN and --reuse: {url}", flush=True)
        yield url, await build(url)
    else:
        async with fresh_database(args.database_url, prefix="threadline_peer") as url:
            yield url, await build(url)


async def measure(args: argparse.Namespace, url: str, page_id: str) -> Results:
    install_peer()
    wrk.require_wrk()
    # The database is migrated (build): a baseline checkout may not know its latest revision.
    os.environ["AUTO_MIGRATE"] = "0"
    with contextlib.ExitStack() as stack:
        running = {"threadline": stack.enter_context(server(url))}
        if args.baseline:
            running["baseline"] = stack.enter_context(server(url, root=Path(args.baseline)))
        running["peer"] = stack.enter_context(postgraphile(url))
        for who, served in running.items():
            await (wait_graphql if who == "peer" else wait_healthy)(served.base)
        admin = await admin_connection(url)
        try:
            return {
                name: await rounds(args, running, page, name, admin)
                for name, page in pages(page_id).items()
            }
        finally:
            await admin.close()


async def rounds(
    args: argparse.Namespace,
    running: dict[str, Server],
    page: Page,
    name: str,
    admin: asyncpg.Connection,
) -> dict[str, list[wrk.Run]]:
    """--rounds wrk runs of `page` on each server in turn, after a short warm-up (plans
    cached, pools filled); each round starts with the next server."""
    await same_rows(running, page, name)
    servers = list(running)
    for who in servers:
        await load(args, running[who], body(page, who), admin, 2)
    runs: dict[str, list[wrk.Run]] = {who: [] for who in servers}
    for round_ in range(args.rounds):
        turn = round_ % len(servers)
        for who in servers[turn:] + servers[:turn]:
            run = await load(args, running[who], body(page, who), admin, args.seconds)
            runs[who].append(run)
            print(f"{name}, round {round_ + 1}, {who}: {run}", flush=True)
    return runs


async def load(
    args: argparse.Namespace,
    running: Server,
    body: dict[str, Any],
    admin: asyncpg.Connection,
    seconds: int,
) -> wrk.Run:
    return await wrk.run(
        f"{running.base}/graphql",
        body,
        running.process.pid,
        admin,
        seconds,
        args.connections,
        args.threads,
    )


def report(args: argparse.Namespace, results: Results) -> None:
    """Each run, and per page the ratio to the peer of each Threadline's median req/s
    (and of each round's)."""
    rows: list[tuple[object, ...]] = []
    summary: dict[str, Any] = {}
    for name, runs in results.items():
        medians = {
            who: statistics.median(r.per_second for r in found) for who, found in runs.items()
        }
        summary[name] = {"median_per_s": medians}
        for who, found in runs.items():
            rows.extend((name, who, index + 1, *astuple(run)) for index, run in enumerate(found))
        for who in runs.keys() - {"peer"}:
            ratio = round(medians[who] / medians["peer"], 2)
            each = [
                round(ours.per_second / theirs.per_second, 2)
                for ours, theirs in zip(runs[who], runs["peer"], strict=True)
            ]
            summary[name][f"{who}/peer"] = {"median": ratio, "rounds": each}
            rows.append((name, f"{who}/peer", "median", f"{ratio} ({', '.join(map(str, each))})"))
    print(
        f"\nwrk, {args.connections} connections, {args.threads} threads, {args.seconds} s a run;"
        " CPU in ms per request; ratio = Threadline req/s / peer req/s"
    )
    columns = (
        "page",
        "server",
        "round",
        "requests",
        "req/s",
        "p99 ms",
        "server CPU",
        "PostgreSQL CPU",
        "new backends",
    )
    print_table(columns, [(*row, *[""] * (len(columns) - len(row))) for row in rows])
    runs_json = {
        name: {who: [asdict(r) for r in found] for who, found in runs.items()}
        for name, runs in results.items()
    }
    write_results("peer", {"summary": summary, "runs": runs_json})


async def main(args: argparse.Namespace) -> None:
    async with database(args) as (url, page_id):
        report(args, await measure(args, url, page_id))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = parser_on_postgres(__doc__ or "")
    parser.add_argument("--seconds", type=int, default=10, help="one wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the database (for EXPLAIN)")
    parser.add_argument("--reuse", metavar="URL", help="a database kept by --keep")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="another checkout served beside, e.g. `git archive HEAD | tar -x -C DIR`",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
