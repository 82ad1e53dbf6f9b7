"""Slow clients cannot hold connections: a request's head and body must arrive in time,
idle keep-alive connections close, and requests past the connection cap are refused;
ordinary requests, keep-alive and WebSockets still work.

Through uvicorn on loopback, configured as `main.py serve` configures it (server_options),
with raw sockets: a slow client is one that sends the bytes no HTTP library would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from config import Settings
from tests.conftest import wait_started
from tests.ws_client import connect
from web.app import create_app
from web.body_timeout import RequestBodyTimeout
from web.process import server_options

HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
# A byte every TRICKLE seconds; no test waits for anything longer than LIMIT seconds.
TRICKLE = 0.2
LIMIT = 5.0
# Deadlines are timers: a little early is wrong, somewhat late is a busy machine.
EARLY = 0.1
LATE = 1.5
# Reads no table: the answer does not depend on what other tests left in the database.
QUERY = json.dumps({"query": "{ __typename }"}).encode()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture(scope="module")
async def slow_app(app: Starlette, settings: Settings) -> AsyncIterator[Starlette]:
    """The app with a short body deadline, on the test database (migrated by `app`)."""
    application = create_app(
        replace(settings, auto_migrate=False, request_body_timeout_seconds=BODY_TIMEOUT)
    )
    async with LifespanManager(application):
        yield application


@asynccontextmanager
async def serving(
    application: Any, settings: Settings, **changes: Any
) -> AsyncIterator[uvicorn.Server]:
    """`application` served on 127.0.0.1 with production's options for these settings."""
    options = server_options(replace(settings, **changes))
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        # A request still running when a test fails does not hold up the next one.
        timeout_graceful_shutdown=int(LIMIT),
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_started(server)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


def port_of(server: uvicorn.Server) -> int:
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


@asynccontextmanager
async def opened(
    server: uvicorn.Server,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
    try:
        yield reader, writer
    finally:
        writer.close()


def post(body: bytes = QUERY, length: int | None = None) -> bytes:
    head = (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode() + body


async def answer(reader: asyncio.StreamReader) -> Answer:
    """One response (with a Content-Length), read within LIMIT seconds."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), LIMIT)
    status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = dict(line.lower().split(": ", 1) for line in lines)
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), LIMIT)
    return Answer(int(status_line.split()[1]), headers, body)


async def closed_after(reader: asyncio.StreamReader) -> float:
    """Seconds until the server closes the connection (sending nothing more)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    with contextlib.suppress(ConnectionError):
        assert await asyncio.wait_for(reader.read(), LIMIT) == b""
    return loop.time() - start


async def trickle_until_closed(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> float:
    """Sends `data` a byte every TRICKLE seconds, round and round, until the server
    closes the connection without answering: seconds until it did."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for sent in range(int(LIMIT / TRICKLE)):
        with contextlib.suppress(ConnectionError):
            writer.write(data[sent % len(data) :][:1])
            await writer.drain()
        try:
            received = await asyncio.wait_for(reader.read(1024), TRICKLE)
        except TimeoutError:
            continue
        except ConnectionError:
            received = b""
        assert received == b"", received
        return loop.time() - start
    raise AssertionError(f"still open after {LIMIT} s of trickling")


async def test_a_request_head_trickled_byte_by_byte_is_cut_off_at_the_header_timeout(
    slow_app: Starlette, settings: Settings
) -> None:
    async with (
        serving(slow_app, settings, request_header_timeout_seconds=HEAD_TIMEOUT) as server,
        opened(server) as (reader, writer),
    ):
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        waited = await trickle_until_closed(reader, writer, b"X-Slow: " + b"x" * 40 + b"\r\n")
    assert HEAD_TIMEOUT - EARLY <= waited < HEAD_TIMEOUT + LATE


async def test_a_request_body_trickled_byte_by_byte_is_answered_408_and_the_connection_closed(
    slow_app: Starlette, settings: Settings
) -> None:
    loop = asyncio.get_running_loop()
    async with serving(slow_app, settings) as server, opened(server) as (reader, writer):
        writer.write(post(b"{", length=100))
        start = loop.time()
        for _ in range(3):
            await asyncio.sleep(TRICKLE)
            writer.write(b" ")
        refused = await answer(reader)
        waited = loop.time() - start
        assert await closed_after(reader) < LATE
    assert refused.status == 408
    assert refused.headers["connection"] == "close"
    assert json.loads(refused.body) == {
        "errors": [
            {
                "message": "The request body did not arrive within 1 s",
                "extensions": {"code": "REQUEST_TIMEOUT"},
            }
        ]
    }
    assert BODY_TIMEOUT - EARLY <= waited < BODY_TIMEOUT + LATE


async def test_a_connection_that_never_sends_a_byte_is_closed_at_the_header_timeout(
    slow_app: Starlette, settings: Settings
) -> None:
    # uvicorn's own keep-alive timer only starts after a first response.
    async with (
        serving(
            slow_app,
            settings,
            request_header_timeout_seconds=HEAD_TIMEOUT,
            keep_alive_timeout_seconds=5,
        ) as server,
        opened(server) as (reader, _writer),
    ):
        waited = await closed_after(reader)
    assert HEAD_TIMEOUT - EARLY <= waited < HEAD_TIMEOUT + LATE


async def test_a_body_still_arriving_when_the_response_has_started_drops_the_connection(
    settings: Settings,
) -> None:
    async def answers_first(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (await receive())["type"] != "http.disconnect":
            pass

    application = RequestBodyTimeout(answers_first, BODY_TIMEOUT)
    async with serving(application, settings) as server, opened(server) as (reader, writer):
        writer.write(post(b"{", length=100))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), LIMIT)
        waited = await closed_after(reader)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert waited < BODY_TIMEOUT + LATE


async def test_requests_in_time_are_served_and_keep_alive_restarts_the_header_timeout(
    slow_app: Starlette, settings: Settings
) -> None:
    answers = []
    async with (
        serving(
            slow_app,
            settings,
            request_header_timeout_seconds=HEAD_TIMEOUT,
            keep_alive_timeout_seconds=5,
        ) as server,
        opened(server) as (reader, writer),
    ):
        # The second request comes when the connection is older than the header
        # timeout, but within it of the first response.
        for _ in range(2):
            await asyncio.sleep(HEAD_TIMEOUT * 0.6)
            writer.write(post())
            answers.append(await answer(reader))
    for served in answers:
        assert served.status == 200
        assert json.loads(served.body) == {"data": {"__typename": "Query"}}


async def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(
    slow_app: Starlette, settings: Settings
) -> None:
    async with (
        serving(
            slow_app, settings, request_header_timeout_seconds=LIMIT, keep_alive_timeout_seconds=1
        ) as server,
        opened(server) as (reader, writer),
    ):
        writer.write(post())
        assert (await answer(reader)).status == 200
        waited = await closed_after(reader)
    assert 1 - EARLY <= waited < 1 + LATE


async def test_a_websocket_outlives_the_header_timeout(
    slow_app: Starlette, settings: Settings
) -> None:
    async with serving(slow_app, settings, request_header_timeout_seconds=HEAD_TIMEOUT) as server:
        url = f"ws://127.0.0.1:{port_of(server)}/graphql"
        async with connect(url) as client:
            await asyncio.sleep(HEAD_TIMEOUT + 0.5)
            pong = await client.socket.ping()
            await asyncio.wait_for(pong, LIMIT)


async def test_requests_past_the_connection_cap_are_answered_503(
    slow_app: Starlette, settings: Settings
) -> None:
    async with (
        serving(slow_app, settings, max_connections=2) as server,
        opened(server) as (first_reader, first_writer),
    ):
        first_writer.write(post())
        assert (await answer(first_reader)).status == 200
        # The first connection, kept open, and this one make two.
        async with opened(server) as (reader, writer):
            writer.write(post())
            assert (await answer(reader)).status == 503
