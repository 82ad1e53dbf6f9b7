"""Threadline's public API as a client sees it: GraphQL over HTTP, and subscriptions over
graphql-transport-ws on the same URL. The simulator imports nothing of the server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

PROTOCOL = Subprotocol("graphql-transport-ws")


class ApiError(Exception):
    """The server refused or failed an operation."""


class Api:
    """One server, one credential (a JWT or an API key, or none in development mode)."""

    def __init__(self, http: httpx.AsyncClient, url: str, credential: str | None) -> None:
        self.http = http
        self.url = url
        self.credential = credential
        self.requests = 0

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, credential: str | None = None) -> AsyncIterator[Api]:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            yield cls(http, url, credential)

    async def run(self, document: str, **variables: Any) -> dict[str, Any]:
        """The data of an operation, which must succeed (a JSON POST passes the CSRF guard)."""
        self.requests += 1
        response = await self.http.post(self.url, json={"query": document, "variables": variables})
        try:
            body = response.json()
        except ValueError:
            raise ApiError(f"HTTP {response.status_code}: {response.text[:200]}") from None
        if body.get("errors") or response.status_code != 200:
            raise ApiError(json.dumps(body.get("errors") or body))
        data: dict[str, Any] = body["data"]
        return data

    @asynccontextmanager
    async def subscribe(
        self, document: str, **variables: Any
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """The results of one subscription, on a connection of its own."""
        ws_url = "ws" + self.url.removeprefix("http")  # http -> ws, https -> wss
        async with websockets.connect(ws_url, subprotocols=[PROTOCOL]) as socket:
            auth = {"Authorization": f"Bearer {self.credential}"} if self.credential else {}
            await socket.send(json.dumps({"type": "connection_init", "payload": auth}))
            # The protocol closes a socket that subscribes before it is acknowledged.
            ack = json.loads(await socket.recv())
            if ack["type"] != "connection_ack":
                raise ApiError(f"the server did not accept the connection: {ack}")
            payload = {"query": document, "variables": variables}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            yield _results(socket)


async def _results(socket: websockets.ClientConnection) -> AsyncIterator[dict[str, Any]]:
    async for raw in socket:
        message = json.loads(raw)
        kind = message["type"]
        if kind == "ping":
            await socket.send(json.dumps({"type": "pong"}))
        elif kind == "next":
            if message["payload"].get("errors"):
                raise ApiError(json.dumps(message["payload"]["errors"]))
            yield message["payload"]["data"]
        elif kind == "error":
            raise ApiError(json.dumps(message["payload"]))
        elif kind == "complete":
            return
    raise ApiError(
        f"the server closed the subscription ({socket.close_code} {socket.close_reason})"
    )
