"""Memory under load: the server's RSS over 10,000 requests must stay flat.

Serves the app in its own process on a fresh PostgreSQL database seeded like
bench/deep_read.py, then sends the conversation page, the list page and a
sendMessage in turn (concurrency 8), sampling the server's RSS every 1,000 requests.
Growth is measured from the first sample (after warm-up) to the last; the bound is
--bound-mib (default 16 MiB). Figures go to bench/results/memory.json.

    python -m bench.memory [--requests 10000] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from bench.deep_read import CONVERSATION_PAGE, LIST_PAGE, Seeder, seed_dataset
from bench.harness import (
    parser_on_postgres,
    print_table,
    rss_mib,
    server,
    wait_healthy,
    write_results,
)
from tests.databases import fresh_database

SEND = """mutation($c: ID!) { sendMessage(input: {conversationId: $c, senderId: "bench",
  content: "one more"}) { id } }"""
SAMPLE_EVERY = 1000
CONCURRENCY = 8


@dataclass
class Figures:
    requests: int
    samples_mib: list[float]
    growth_mib: float
    bound_mib: float
    within_bound: bool


async def drive(base: str, pid: int, total: int, page_id: str) -> list[float]:
    bodies: list[dict[str, Any]] = [
        {"query": CONVERSATION_PAGE, "variables": {"id": page_id}},
        {"query": LIST_PAGE},
        {"query": SEND, "variables": {"c": page_id}},
    ]
    requests = itertools.islice(itertools.cycle(bodies), total)
    done = 0
    samples: list[float] = []
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

        async def worker() -> None:
            nonlocal done
            for body in requests:
                response = await http.post("/graphql", json=body)
                assert not response.json().get("errors"), response.text
                done += 1
                if done % SAMPLE_EVERY == 0:
                    samples.append(round(rss_mib(pid), 1))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return samples


async def main(args: argparse.Namespace) -> None:
    async with fresh_database(args.database_url, prefix="threadline_bench") as url:
        with server(url) as running:
            await wait_healthy(running.base)
            async with httpx.AsyncClient(base_url=running.base, timeout=60) as http:
                page_id = await seed_dataset(Seeder(http))
            samples = await drive(running.base, running.process.pid, args.requests, page_id)
    growth = round(samples[-1] - samples[0], 1)
    figures = Figures(args.requests, samples, growth, args.bound_mib, growth <= args.bound_mib)
    print(f"server RSS (MiB) every {SAMPLE_EVERY} requests, concurrency {CONCURRENCY}")
    print_table(
        ("requests", "RSS MiB"),
        [((n + 1) * SAMPLE_EVERY, mib) for n, mib in enumerate(samples)],
    )
    verdict = "within" if figures.within_bound else "PAST"
    print(f"growth after the first sample: {growth} MiB ({verdict} the bound of {args.bound_mib})")
    write_results("memory", asdict(figures))


if __name__ == "__main__":
    parser = parser_on_postgres(__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--bound-mib", type=float, default=16.0)
    asyncio.run(main(parser.parse_args()))
