"""Fan-out: N subscribers on one conversation, events produced at a fixed rate, over
WebSocket (graphql-transport-ws) and over Server-Sent Events (graphql-sse, `--transports`).

Prints, per transport and subscriber count: delivered/sent, latency from the event's creation
(just before its commit) to its receipt (p50/p99/max), and the server's RSS, for
Threadline and for its baseline, a bare broadcaster-to-WebSocket relay
(bench/relay_baseline.py: no database, no GraphQL) driven by the same client; the
ratio is Threadline's p99 over the relay's. Writes bench/results/fanout.json.

    python -m bench.fanout --subscribers 100 1000 --rate 20 --seconds 10 [--transports ws sse]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import httpx

from bench.harness import (
    percentile,
    print_table,
    rss_mib,
    server,
    wait_healthy,
    write_results,
)
from bench.subscribers import TRANSPORTS, latency_ms, results, subscribe_many

BASELINE = "relay"
SERVERS = {"threadline": ("main.py", "serve"), BASELINE: ("-m", "bench.relay_baseline")}
SUBSCRIPTION = """subscription($c: ID!) {
  conversationEvents(conversationId: $c) {
    seq createdAt ... on MessageEvent { message { content } }
  }
}"""
CREATE = 'mutation { createConversation(input: {owner: {participantId: "bench"}}) { id } }'
# What the measured events' messages hold (warm-ups do not), as their JSON shows it.
MEASURED = b'"event '
WARM_UP_TRIES = 60
SEND = """mutation($c: ID!, $text: String!) {
  sendMessage(input: {conversationId: $c, senderId: "bench", content: $text}) { seq } }"""


@dataclass
class Figures:
    server: str
    transport: str
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


async def send(http: httpx.AsyncClient, conversation_id: str, text: str) -> None:
    body = {"query": SEND, "variables": {"c": conversation_id, "text": text}}
    response = await http.post("/graphql", json=body)
    assert not response.json().get("errors"), response.text


async def until(done: Callable[[], bool], seconds: float) -> bool:
    """Wait (polling) until `done()`, for at most `seconds`; whether it came true."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def run(
    base: str, pid: int, subscribers: int, rate: float, seconds: float, transport: str
) -> Figures:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        conv = (await http.post("/graphql", json={"query": CREATE})).json()["data"]
        conversation_id = conv["createConversation"]["id"]
        clients = await subscribe_many(
            base, subscribers, SUBSCRIPTION, {"c": conversation_id}, MEASURED, transport
        )
        try:
            # Measure only once every subscription is live: warm-up events until each
            # subscriber has had one. Only the measured events count from then on.
            for _ in range(WARM_UP_TRIES):
                await send(http, conversation_id, "warm-up")
                if await until(lambda: all(c.received for c in clients), 1.0):
                    break
            else:
                raise RuntimeError("some subscriptions never received an event")
            sent = int(rate * seconds)
            peak_rss = rss_mib(pid)
            start = time.monotonic()
            for n in range(sent):
                await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
                await send(http, conversation_id, f"event {n}")
                peak_rss = max(peak_rss, rss_mib(pid))
            await until(lambda: all(c.marked >= sent for c in clients), 15)
            peak_rss = max(peak_rss, rss_mib(pid))
        finally:
            for client in clients:
                client.close()
    latencies = sorted(
        latency_ms(arrived, event["createdAt"])
        for client in clients
        for arrived, data in results(client)
        # Other events (the auto-title its first message gives the conversation) have
        # no message.
        if (event := data["conversationEvents"])
        .get("message", {})
        .get("content", "")
        .startswith("event ")
    )
    delivered = len(latencies)
    latencies = latencies or [0.0]
    return Figures(
        server="",
        transport=transport,
        subscribers=subscribers,
        rate_per_s=rate,
        sent=sent,
        delivered=delivered,
        expected=sent * subscribers,
        delivered_ratio=round(delivered / (sent * subscribers), 4),
        latency_p50_ms=round(percentile(latencies, 0.5), 1),
        latency_p99_ms=round(percentile(latencies, 0.99), 1),
        latency_max_ms=round(latencies[-1], 1),
        server_rss_mib=round(peak_rss, 1),
    )


def print_figures(rows: list[Figures]) -> None:
    print_table(
        (
            "server",
            "transport",
            "subscribers",
            "sent",
            "delivered/sent",
            "p50 ms",
            "p99 ms",
            "max ms",
            "RSS MiB",
        ),
        [
            (
                r.server,
                r.transport,
                r.subscribers,
                r.sent,
                f"{r.delivered_ratio:.4f}",
                r.latency_p50_ms,
                r.latency_p99_ms,
                r.latency_max_ms,
                r.server_rss_mib,
            )
            for r in rows
        ],
    )
    baselines = {r.subscribers: r for r in rows if r.server == BASELINE}
    for r in rows:
        base = baselines.get(r.subscribers)
        if r.server != BASELINE and base is not None and base.latency_p99_ms:
            ratio = r.latency_p99_ms / base.latency_p99_ms
            print(f"{r.subscribers} subscribers over {r.transport}: p99 {ratio:.2f}x the relay's")


async def main(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.database_url or f"sqlite+aiosqlite:///{tmp}/fanout.db"
        for name, command in SERVERS.items():
            with server(database_url, command) as running:
                await wait_healthy(running.base)
                pid = running.process.pid
                # The relay speaks WebSocket only.
                transports = args.transports if name != BASELINE else ["ws"]
                for transport in transports:
                    for count in args.subscribers:
                        figures = await run(
                            running.base, pid, count, args.rate, args.seconds, transport
                        )
                        rows.append(replace(figures, server=name))
    print_figures(rows)
    write_results("fanout", [asdict(r) for r in rows])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--transports", nargs="+", choices=sorted(TRANSPORTS), default=["ws", "sse"]
    )
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    asyncio.run(main(parser.parse_args()))
