"""Ingestion: realistic OTLP/HTTP batches posted to a real server, as fast as it takes them.

Each batch holds agent runs recorded with the OpenTelemetry SDK (an agent span, two
LLM calls with their message histories, a tool call), each run in a conversation of
its own, half in GenAI and half in OpenInference conventions. Prints spans/second
sustained, request latency (p50/p99), the server's peak RSS and its CPU time per
1,000 spans, per database, and writes them to bench/results/ingest.json.

    python -m bench.ingest --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

With `--baseline DIR` (another checkout, such as `git worktree add /tmp/base HEAD~1`), the
servers of both checkouts take the same batches in turn, `--rounds` times each, on fresh
databases, and the figures that matter are the medians' ratios (this one / baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench.harness import RESULTS, ROOT, rss_mib, server, wait_healthy
from bench.otel_runs import Recorder, protobuf_body, run_genai, run_openinference
from tests.databases import fresh_database

HEADERS = {"Content-Type": "application/x-protobuf"}
SPANS_PER_RUN = 4


@dataclass
class Figures:
    database: str
    requests: int
    spans: int
    seconds: float
    spans_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    server_peak_rss_mib: float
    # CPU the server process spent per 1,000 spans: on this shared machine, a figure
    # that other work slows less than spans/s.
    server_cpu_ms_per_1k_spans: float


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batches(count: int, runs_per_batch: int) -> list[bytes]:
    """Encoded ExportTraceServiceRequests, made before the clock starts."""
    recorder = Recorder()
    bodies = []
    for batch in range(count):
        for run in range(runs_per_batch):
            key = f"bench-{batch}-{run}"
            if run % 2:
                run_openinference(recorder.tracer, key)
            else:
                run_genai(recorder.tracer, key)
        bodies.append(protobuf_body(recorder.take()))
    return bodies


async def post_all(base: str, bodies: list[bytes], clients: int, latencies: list[float]) -> None:
    queue = list(reversed(bodies))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                response = await http.post("/v1/traces", content=body, headers=HEADERS)
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                assert not response.content, "spans were refused"

    await asyncio.gather(*(client() for _ in range(clients)))


async def measure(
    name: str, url: str, args: argparse.Namespace, bodies: list[bytes], root: Path = ROOT
) -> Figures:
    with server(url, root=root) as running:
        base = f"http://127.0.0.1:{running.port}"
        await wait_healthy(base)
        await post_all(base, bodies[:2], 1, [])  # warm-up: connections, caches
        latencies: list[float] = []
        peak = rss_mib(running.process.pid)
        cpu = cpu_seconds(running.process.pid)
        started = time.perf_counter()
        task = asyncio.create_task(post_all(base, bodies[2:], args.clients, latencies))
        while not task.done():
            peak = max(peak, rss_mib(running.process.pid))
            await asyncio.sleep(0.1)
        await task
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(running.process.pid) - cpu
    spans = (len(bodies) - 2) * args.runs_per_batch * SPANS_PER_RUN
    quantiles = statistics.quantiles(latencies, n=100)
    return Figures(
        database=name,
        requests=len(latencies),
        spans=spans,
        seconds=round(elapsed, 2),
        spans_per_s=round(spans / elapsed),
        latency_p50_ms=round(quantiles[49], 1),
        latency_p99_ms=round(quantiles[98], 1),
        server_peak_rss_mib=round(peak, 1),
        server_cpu_ms_per_1k_spans=round(cpu * 1000 / spans * 1000, 1),
    )


async def on_fresh_database(
    database: str, args: argparse.Namespace, bodies: list[bytes], root: Path = ROOT
) -> Figures:
    if database == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/ingest.db"
            return await measure(database, url, args, bodies, root)
    async with fresh_database(args.postgres, "threadline_bench") as url:
        return await measure(database, url, args, bodies, root)


async def compare(args: argparse.Namespace, bodies: list[bytes], databases: list[str]) -> None:
    """This checkout against the baseline checkout, in turns; medians and their ratios."""
    results = {}
    for database in databases:
        runs: dict[str, list[Figures]] = {"baseline": [], "this": []}
        for _ in range(args.rounds):
            for which, root in (("baseline", Path(args.baseline)), ("this", ROOT)):
                runs[which].append(await on_fresh_database(database, args, bodies, root))
        medians = {
            which: {
                "spans_per_s": statistics.median(f.spans_per_s for f in found),
                "server_cpu_ms_per_1k_spans": statistics.median(
                    f.server_cpu_ms_per_1k_spans for f in found
                ),
            }
            for which, found in runs.items()
        }
        ratio = {k: round(v / medians["baseline"][k], 3) for k, v in medians["this"].items()}
        results[database] = {
            **medians,
            "ratio": ratio,
            "runs": {k: [asdict(f) for f in v] for k, v in runs.items()},
        }
        print(
            f"{database:>10}: {medians['this']['spans_per_s']:.0f} spans/s against "
            f"{medians['baseline']['spans_per_s']:.0f} (x{ratio['spans_per_s']}); server CPU "
            f"{medians['this']['server_cpu_ms_per_1k_spans']} ms per 1,000 spans against "
            f"{medians['baseline']['server_cpu_ms_per_1k_spans']} "
            f"(x{ratio['server_cpu_ms_per_1k_spans']}); medians of {args.rounds} runs each"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest_comparison.json").write_text(json.dumps(results, indent=2))


async def main(args: argparse.Namespace) -> None:
    bodies = batches(args.batches + 2, args.runs_per_batch)
    databases = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    if args.baseline:
        await compare(args, bodies, databases)
        return
    rows = [await on_fresh_database(database, args, bodies) for database in databases]
    for r in rows:
        print(
            f"{r.database:>10}: {r.spans_per_s:>6} spans/s ({r.spans} spans in {r.seconds} s, "
            f"{r.requests} requests), p50 {r.latency_p50_ms} ms, p99 {r.latency_p99_ms} ms, "
            f"peak RSS {r.server_peak_rss_mib} MiB, server CPU {r.server_cpu_ms_per_1k_spans} ms "
            "per 1,000 spans"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100, help="requests to post")
    parser.add_argument("--runs-per-batch", type=int, default=64, help="agent runs per request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent exporters")
    parser.add_argument("--postgres", help="a PostgreSQL URL to run on as well")
    parser.add_argument("--baseline", help="another checkout to compare with, in turns")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, with --baseline")
    asyncio.run(main(parser.parse_args()))
