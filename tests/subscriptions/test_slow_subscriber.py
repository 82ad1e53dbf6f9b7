"""A subscriber that stops reading is cut off with a cursor, and loses nothing by resuming."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from asgi_lifespan import LifespanManager

from config import Settings
from tests import factories
from tests.conftest import wait_started
from tests.graphql_client import GraphQLClient
from tests.ws_client import PROTOCOL, connect
from web.app import create_app

QUEUE = 4
# Enough bytes to fill the kernel's socket buffers (up to 4 MiB here) and stall the sender.
EVENTS = 100
BIG = "x" * 70_000
SUBSCRIPTION = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    seq cursor ... on MessageEvent { message { content } } }
}"""


@pytest.fixture
async def small_queue_server(
    settings: Settings, http: httpx.AsyncClient
) -> AsyncIterator[tuple[str, GraphQLClient]]:
    """A second app on the same database whose subscribers may fall QUEUE events behind."""
    app = create_app(replace(settings, subscriber_queue_size=QUEUE, auto_migrate=False))
    async with LifespanManager(app):
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=0,
                lifespan="off",
                log_level="warning",
                ws_per_message_deflate=False,  # compression would shrink the test's load
            )
        )
        task = asyncio.create_task(server.serve())
        await wait_started(server)
        port = server.servers[0].sockets[0].getsockname()[1]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield f"ws://127.0.0.1:{port}/graphql", GraphQLClient(client)
        server.should_exit = True
        await task


def tiny_socket(url: str) -> socket.socket:
    """A connected socket with a small receive buffer, so the server feels back-pressure."""
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def read_until_closed(socket_: Any) -> tuple[list[int], dict[str, Any]]:
    """Sequence numbers delivered, then the error that ended the subscription."""
    seqs: list[int] = []
    while True:
        try:
            message = json.loads(await asyncio.wait_for(socket_.recv(), 10))
        except TimeoutError:
            raise AssertionError(f"nothing after {seqs}") from None
        errors = message.get("payload", {}).get("errors") if message["type"] == "next" else None
        if message["type"] == "next" and not errors:
            seqs.append(message["payload"]["data"]["conversationEvents"]["seq"])
            continue
        return seqs, errors[0] if errors else message


async def test_a_stalled_subscriber_is_told_to_resume_and_misses_nothing(
    small_queue_server: tuple[str, GraphQLClient],
) -> None:
    url, gql = small_queue_server
    conv = await factories.conversation(gql)
    async with websockets.connect(
        url,
        subprotocols=[PROTOCOL],
        sock=tiny_socket(url),
        max_queue=1,
    ) as stalled:
        await stalled.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await stalled.recv())["type"] == "connection_ack"
        payload = {"query": SUBSCRIPTION, "variables": {"c": conv["id"]}}
        await stalled.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        await asyncio.sleep(0.3)
        for n in range(EVENTS):  # the client reads none of these while they are written
            await factories.message(gql, conv["id"], content=f"{n}:{BIG}")
        delivered, error = await read_until_closed(stalled)
        assert json.loads(await stalled.recv())["type"] == "complete"

    assert error["extensions"]["code"] == "RESUME_REQUIRED", error
    assert len(delivered) < EVENTS, "the subscriber should have been cut off"
    assert delivered == list(range(2, 2 + len(delivered)))

    async with connect(url) as client:
        op = await client.subscribe(
            SUBSCRIPTION, {"c": conv["id"], "after": error["extensions"]["cursor"]}
        )
        rest = [
            (await client.next(op))["conversationEvents"]["seq"]
            for _ in range(EVENTS - len(delivered))
        ]
        await client.nothing_more(op)
    assert delivered + rest == list(range(2, 2 + EVENTS))
