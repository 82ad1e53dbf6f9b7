"""A graphql-transport-ws client over a real WebSocket, for the subscription tests."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

PROTOCOL = Subprotocol("graphql-transport-ws")
WAIT = 10.0


class SubscriptionClosed(AssertionError):
    pass


class GraphQLWebSocket:
    """One connection; many subscriptions, each identified by the id it was given."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self._ids = itertools.count(1)
        self._inbox: dict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self._reader: asyncio.Task[None] | None = None

    async def start(self, payload: dict[str, Any] | None = None) -> None:
        await self.socket.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        ack = json.loads(await asyncio.wait_for(self.socket.recv(), WAIT))
        assert ack["type"] == "connection_ack", ack
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if message["type"] == "ping":
                await self.socket.send(json.dumps({"type": "pong"}))
            elif "id" in message:
                await self._inbox[message["id"]].put(message)

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op_id = str(next(self._ids))
        payload = {"query": query, "variables": variables or {}}
        await self.socket.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
        return op_id

    async def message(self, op_id: str, wait: float = WAIT) -> dict[str, Any]:
        """The next protocol message for a subscription: next, error or complete."""
        return await asyncio.wait_for(self._inbox[op_id].get(), wait)

    async def next(self, op_id: str, wait: float = WAIT) -> dict[str, Any]:
        """The next result's data; fails on an error or the end of the subscription."""
        message = await self.message(op_id, wait)
        if message["type"] != "next" or message["payload"].get("errors"):
            raise SubscriptionClosed(message)
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def collect(self, op_id: str, count: int, wait: float = WAIT) -> list[Any]:
        return [await self.next(op_id, wait) for _ in range(count)]

    async def nothing_more(self, op_id: str, wait: float = 0.3) -> None:
        """Assert no further message arrives for the subscription within `wait`."""
        try:
            message = await asyncio.wait_for(self._inbox[op_id].get(), wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")

    async def stop(self, op_id: str) -> None:
        await self.socket.send(json.dumps({"id": op_id, "type": "complete"}))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.socket.close()


@asynccontextmanager
async def connect(
    url: str, payload: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[GraphQLWebSocket]:
    """A started connection; `payload` goes in connection_init (credentials)."""
    async with websockets.connect(url, subprotocols=[PROTOCOL], **options) as socket:
        client = GraphQLWebSocket(socket)
        await client.start(payload)
        try:
            yield client
        finally:
            await client.close()
