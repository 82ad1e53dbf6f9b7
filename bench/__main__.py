"""The whole benchmark suite, one benchmark after the other, each in its own process.

    python -m bench [--quick] [--database-url postgresql+asyncpg://...]

Each prints its own table (with the ratio to its baseline where it has one) and writes
bench/results/<name>.json. --quick runs each briefly, to check that they work.

    python -m bench scale --size S M L [--help for its options]

runs the scale benchmark alone (bench/scale.py): it is not part of the suite, since
building its largest dataset takes a quarter of an hour or more.

    python -m bench peer [--seconds 10 --rounds 3 | --help]

runs Threadline beside PostGraphile v4 on the same tables (bench/peer.py): it needs
wrk and npm, so it is not part of the suite either.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from bench import peer, scale
from bench.harness import ROOT, parser_on_postgres
from tests.databases import fresh_database

# (module, arguments for a full run, arguments for a quick one)
SUITE: list[tuple[str, list[str], list[str]]] = [
    ("deep_read", [], ["--repeat", "30", "--seconds", "3", "--background", "100"]),
    ("writes", [], ["--count", "100"]),
    ("fanout", [], ["--subscribers", "100", "--seconds", "5"]),
    ("memory", [], ["--requests", "3000"]),
    ("ingest", [], ["--batches", "20"]),
]
ANALYTICS: list[tuple[str, list[str], list[str]]] = [
    ("dataset", [], ["--conversations", "100", "--traces", "200"]),
    ("analytics", [], ["--runs", "3"]),
]


def run(module: str, arguments: list[str], env: dict[str, str]) -> None:
    print(f"\n== bench.{module} {' '.join(arguments)}", flush=True)
    subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *arguments], cwd=ROOT, env=env, check=True
    )


async def main() -> None:
    if sys.argv[1:2] == ["scale"]:
        await scale.main(scale.parse(sys.argv[2:]))
        return
    if sys.argv[1:2] == ["peer"]:
        await peer.main(peer.parse(sys.argv[2:]))
        return
    parser = parser_on_postgres(__doc__ or "")
    parser.add_argument("--quick", action="store_true", help="run each benchmark briefly")
    args = parser.parse_args()
    env = dict(os.environ)
    for module, full, quick in SUITE:
        # Fan-out runs on its own SQLite file; ingestion on SQLite and on PostgreSQL.
        where = {"fanout": [], "ingest": ["--postgres", args.database_url]}.get(
            module, ["--database-url", args.database_url]
        )
        run(module, (quick if args.quick else full) + where, env)
    # The analytics benchmark reads a large dataset, built once in a database of its own.
    async with fresh_database(args.database_url, prefix="threadline_bench") as url:
        for module, full, quick in ANALYTICS:
            run(module, quick if args.quick else full, {**env, "DATABASE_URL": url})


if __name__ == "__main__":
    asyncio.run(main())
