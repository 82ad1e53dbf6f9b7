"""A WebSocket authenticates once, in connection_init: when its credential expires, the
server closes it with 4403, running subscriptions end and nothing more is sent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import websockets
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user, bearer, token
from tests.polling import until
from tests.ws_client import PROTOCOL, WAIT, GraphQLWebSocket, connect

EVENTS = """subscription($c: ID!) {
  conversationEvents(conversationId: $c) { seq ... on MessageEvent { message { content } } }
}"""
EXPIRED = "the credential has expired"
EXPIRED_ERROR = [{"message": EXPIRED, "extensions": {"code": "UNAUTHENTICATED"}}]
# `exp` counts whole seconds: 2 to 3 s, for connecting, subscribing and going live first.
LIFETIME = 3


def short_lived(subject: str) -> tuple[str, float]:
    """A JWT that expires in about LIFETIME seconds, and its `exp`."""
    credential = token(subject, expires_in=LIFETIME)
    exp: float = jwt.decode(credential, options={"verify_signature": False})["exp"]
    return credential, exp


@asynccontextmanager
async def opened(url: str, payload: dict[str, str]) -> AsyncIterator[ClientConnection]:
    """A bare acknowledged connection: the server closing it is what these tests watch."""
    async with websockets.connect(url, subprotocols=[PROTOCOL]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(socket.recv(), WAIT))
        assert ack["type"] == "connection_ack", ack
        yield socket


async def subscribe(socket: ClientConnection, op_id: str, variables: dict[str, Any]) -> None:
    payload = {"query": EVENTS, "variables": variables}
    await socket.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def until_closed(socket: ClientConnection, wait: float) -> list[dict[str, Any]]:
    """Every message the server sends until it closes the socket (within `wait` seconds)."""
    received: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(wait):
            async for raw in socket:
                received.append(json.loads(raw))
    except ConnectionClosedError:
        pass
    except TimeoutError:
        last = received[-1:]
        raise AssertionError(
            f"the socket stayed open ({len(received)} received, last {last})"
        ) from None
    return received


def contents(received: list[dict[str, Any]]) -> list[str]:
    return [
        m["payload"]["data"]["conversationEvents"]["message"]["content"]
        for m in received
        if m["type"] == "next"
    ]


def members(app: Starlette) -> list[int]:
    """Subscribers of each live stream running on the server."""
    return sorted(len(s.members) for s in app.state.schema.shared_streams.running.values())


async def live(
    alice: GraphQLClient, conversation: str, hear: Callable[[float], Awaitable[object]]
) -> None:
    """Write until the subscription hears one (`hear` fails on anything but a result):
    its stream is live."""
    for attempt in range(50):
        await factories.message(alice, conversation, senderId="alice", content=f"warm-up {attempt}")
        with contextlib.suppress(TimeoutError):
            await hear(0.2)
            return
    raise AssertionError("the subscription never went live")


async def next_result(socket: ClientConnection, wait: float) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), wait))
    assert message["type"] == "next", message
    return message


async def content_after_warm_ups(ws: GraphQLWebSocket, op: str) -> str:
    """The next message heard that is not a late warm-up."""
    while True:
        content: str = (await ws.next(op))["conversationEvents"]["message"]["content"]
        if not content.startswith("warm-up"):
            return content


async def alices_conversation(http: httpx.AsyncClient) -> tuple[GraphQLClient, str]:
    alice = as_user(http, "alice")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    return alice, conversation["id"]


async def test_a_subscribe_after_the_token_expired_is_refused_with_4403(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice, conversation = await alices_conversation(secured_http)
    credential, exp = short_lived("alice")
    async with opened(secured_server_url, bearer(credential)) as socket:
        # Nothing to await: the subscribe must come after the token's expiry.
        await asyncio.sleep(max(0.0, exp - time.time()) + 0.1)
        # The server may already have closed the socket, at the expiry itself.
        with contextlib.suppress(ConnectionClosed):
            await subscribe(socket, "1", {"c": conversation})
        await factories.message(alice, conversation, senderId="alice", content="too late")
        received = await until_closed(socket, WAIT)
    assert socket.close_code == 4403
    assert socket.close_reason == EXPIRED
    assert [m for m in received if m["type"] == "next"] == []


async def test_each_subscribe_checks_the_expiry_not_only_the_timer(
    secured_server_url: str, secured_http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's expiry timer fires on its monotonic clock; a subscribe arriving first
    # (the server's clock says the token has expired) is refused by itself.
    _, conversation = await alices_conversation(secured_http)
    async with opened(secured_server_url, bearer(token("alice"))) as socket:
        later = datetime.now(UTC) + timedelta(hours=2)
        monkeypatch.setattr("web.socket_expiry.utcnow", lambda: later)
        await subscribe(socket, "1", {"c": conversation})
        received = await until_closed(socket, WAIT)
    assert socket.close_code == 4403
    assert received == []


async def test_a_running_subscription_ends_when_its_token_expires(
    secured_app: Starlette, secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice, conversation = await alices_conversation(secured_http)
    credential, exp = short_lived("alice")
    writing = asyncio.Event()

    async def write_until_stopped() -> None:
        # Each message carries the time it was written at: one written after the
        # token's expiry must never reach the socket.
        while True:
            content = f"{time.time():.6f}"
            await factories.message(alice, conversation, senderId="alice", content=content)
            writing.set()
            await asyncio.sleep(0.05)

    async with opened(secured_server_url, bearer(credential)) as socket:
        await subscribe(socket, "1", {"c": conversation})
        await until(lambda: members(secured_app) == [1])
        await live(alice, conversation, lambda wait: next_result(socket, wait))
        writer = asyncio.create_task(write_until_stopped())
        try:
            # No message from the client: the server closes the socket by itself.
            received = await until_closed(socket, exp - time.time() + WAIT)
            closed_at = time.time()
            # Alice goes on writing past the close.
            writing.clear()
            await asyncio.wait_for(writing.wait(), WAIT)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
    assert socket.close_code == 4403
    assert socket.close_reason == EXPIRED
    assert closed_at >= exp
    stamps = [float(c) for c in contents(received) if not c.startswith("warm-up")]
    assert stamps, "the subscription heard nothing while the token was valid"
    assert max(stamps) < exp, "an event written after the expiry reached the socket"
    # The subscription was told why it ended, and nothing followed.
    assert received[-1] == {"id": "1", "type": "error", "payload": EXPIRED_ERROR}
    # Its stream stopped on the server too.
    await until(lambda: members(secured_app) == [])


async def test_a_socket_whose_token_is_still_valid_keeps_working(
    secured_app: Starlette, secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice, conversation = await alices_conversation(secured_http)
    credential, exp = short_lived("alice")
    async with (
        connect(secured_server_url, bearer(token("alice"))) as valid,
        opened(secured_server_url, bearer(credential)) as expiring,
    ):
        first = await valid.subscribe(EVENTS, {"c": conversation})
        await subscribe(expiring, "1", {"c": conversation})
        # One user, who sees the same rows whichever token: one shared stream, whose
        # expiring member leaves alone.
        await until(lambda: members(secured_app) == [2])
        await live(alice, conversation, lambda wait: valid.next(first, wait))
        await until_closed(expiring, exp - time.time() + WAIT)
        assert expiring.close_code == 4403
        await until(lambda: members(secured_app) == [1])

        await factories.message(alice, conversation, senderId="alice", content="still here")
        assert await content_after_warm_ups(valid, first) == "still here"
        second = await valid.subscribe(EVENTS, {"c": conversation})
        await until(lambda: members(secured_app) == [2])
        await factories.message(alice, conversation, senderId="alice", content="and here")
        for op in (first, second):
            heard = (await valid.next(op))["conversationEvents"]["message"]
            assert heard == {"content": "and here"}
