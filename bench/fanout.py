"""Fan-out: N WebSocket subscribers on one conversation, events produced at a fixed rate.

Prints, per subscriber count: delivered/sent, latency from the event's creation
(just before its commit) to its receipt (p50/p99/max), and the server's RSS.
Writes the same figures to bench/results/fanout.json.

    python -m bench.fanout --subscribers 100 1000 --rate 20 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import httpx

from tests.ws_client import GraphQLWebSocket, connect

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SUBSCRIPTION = """subscription($c: ID!) {
  conversationEvents(conversationId: $c) {
    seq createdAt ... on MessageEvent { message { content } }
  }
}"""
CREATE = 'mutation { createConversation(input: {owner: {participantId: "bench"}}) { id } }'
SEND = """mutation($c: ID!, $text: String!) {
  sendMessage(input: {conversationId: $c, senderId: "bench", content: $text}) { seq } }"""


@dataclass
class Figures:
    subscribers: int
    rate_per_s: float
    sent: int
    delivered: int
    expected: int
    delivered_ratio: float
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    server_rss_mib: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int


@contextlib.contextmanager
def server(database_url: str) -> Iterator[Server]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "LOG_LEVEL": "warning"}
    process = subprocess.Popen([sys.executable, "main.py", "serve"], cwd=ROOT, env=env)
    try:
        yield Server(process, port)
    finally:
        process.terminate()
        process.wait(10)


async def wait_healthy(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


async def send(http: httpx.AsyncClient, conversation_id: str, text: str) -> None:
    body = {"query": SEND, "variables": {"c": conversation_id, "text": text}}
    response = await http.post("/graphql", json=body)
    assert not response.json().get("errors"), response.text


async def receive(client: GraphQLWebSocket, op: str, count: int, latencies: list[float]) -> int:
    got = 0
    for _ in range(count):
        try:
            data = await client.next(op, wait=15)
        except (TimeoutError, AssertionError):
            break
        created = datetime.fromisoformat(data["conversationEvents"]["createdAt"])
        latencies.append((time.time() - created.timestamp()) * 1000)
        got += 1
    return got


async def run(base: str, pid: int, subscribers: int, rate: float, seconds: float) -> Figures:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        conv = (await http.post("/graphql", json={"query": CREATE})).json()["data"]
        conversation_id = conv["createConversation"]["id"]
        async with contextlib.AsyncExitStack() as stack:
            clients = []
            for _ in range(subscribers):
                ws = await stack.enter_async_context(
                    connect(base.replace("http", "ws") + "/graphql")
                )
                clients.append((ws, await ws.subscribe(SUBSCRIPTION, {"c": conversation_id})))
            # Measure only once every subscription is live: one warm-up event, which
            # every subscriber must have received before the timed events start.
            await send(http, conversation_id, "warm-up")
            await asyncio.gather(*(ws.next(op, wait=120) for ws, op in clients))
            sent = int(rate * seconds)
            latencies: list[float] = []
            receivers = [
                asyncio.create_task(receive(ws, op, sent, latencies)) for ws, op in clients
            ]
            peak_rss = rss_mib(pid)
            start = time.monotonic()
            for n in range(sent):
                await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
                await send(http, conversation_id, f"event {n}")
                peak_rss = max(peak_rss, rss_mib(pid))
            delivered = sum(await asyncio.gather(*receivers))
            peak_rss = max(peak_rss, rss_mib(pid))
    ordered = sorted(latencies) or [0.0]
    return Figures(
        subscribers=subscribers,
        rate_per_s=rate,
        sent=sent,
        delivered=delivered,
        expected=sent * subscribers,
        delivered_ratio=round(delivered / (sent * subscribers), 4),
        latency_p50_ms=round(statistics.median(ordered), 1),
        latency_p99_ms=round(ordered[int(len(ordered) * 0.99) - 1 if len(ordered) > 1 else 0], 1),
        latency_max_ms=round(ordered[-1], 1),
        server_rss_mib=round(peak_rss, 1),
    )


def print_table(rows: list[Figures]) -> None:
    columns = ("subscribers", "sent", "delivered/sent", "p50 ms", "p99 ms", "max ms", "RSS MiB")
    widths = (11, 5, 15, 8, 8, 8, 8)
    print(" ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print(
            f"{r.subscribers:>11} {r.sent:>5} {r.delivered_ratio:>15.4f} {r.latency_p50_ms:>8} "
            f"{r.latency_p99_ms:>8} {r.latency_max_ms:>8} {r.server_rss_mib:>8}"
        )


async def main(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.database_url or f"sqlite+aiosqlite:///{tmp}/fanout.db"
        with server(database_url) as running:
            base = f"http://127.0.0.1:{running.port}"
            await wait_healthy(base)
            for count in args.subscribers:
                rows.append(await run(base, running.process.pid, count, args.rate, args.seconds))
    print_table(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fanout.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    asyncio.run(main(parser.parse_args()))
