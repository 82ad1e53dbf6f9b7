"""Settings of the serving process itself, shared with the benchmarks' baselines."""

from __future__ import annotations

import asyncio
import gc
from typing import TypedDict

from config import Settings
from web.header_timeout import with_header_timeout


def tune_garbage_collector() -> None:
    """Shorter, rarer collector pauses for a long-running server.

    Everything loaded so far (modules, the schema) lives as long as the process: frozen,
    the full collections stop walking it. And a collection of the youngest objects every
    10,000 allocations rather than 700: an event sent to 1,000 subscribers allocates tens
    of thousands of objects. At 1,000 subscribers and 20 events/s this took the fan-out's
    p99 from 73-87 ms to 49 ms, and its worst from about 200 ms to 66 (bench.fanout).
    """
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


class ServerOptions(TypedDict):
    http: type[asyncio.Protocol]
    timeout_keep_alive: int
    limit_concurrency: int
    ws_per_message_deflate: bool
    ws_max_size: int


def server_options(settings: Settings) -> ServerOptions:
    """How uvicorn serves the app: its options past host, port and logging."""
    return ServerOptions(
        # h11 (what uvicorn's "auto" picks without httptools) with a deadline for
        # request heads, against clients that trickle them.
        http=with_header_timeout(settings.request_header_timeout_seconds),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        # Past this many open connections (WebSockets count), HTTP requests get 503.
        limit_concurrency=settings.max_connections,
        # Per-message deflate costs a zlib context (~300 KiB) per WebSocket and CPU per
        # message per subscriber; event payloads are small.
        ws_per_message_deflate=False,
        # A WebSocket message is held to the same limit as an HTTP body.
        ws_max_size=settings.max_body_bytes,
    )
