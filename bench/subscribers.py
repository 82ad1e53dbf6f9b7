"""Many subscribers in one process, over graphql-transport-ws or Server-Sent Events
(graphql-sse), cheap enough per message that the fan-out benchmark measures the server
rather than its client.

A full WebSocket client (tests/ws_client.py) spends tens of microseconds per message
on frames, JSON, queues and timeouts; at 1,000 subscribers and 20 events/s that is
more than a core, and its queueing would be counted as the server's latency. Here each
connection is a bare asyncio protocol: it notes the time a message arrives and keeps
its bytes, and nothing is parsed until the run is over.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import struct
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
ACK_WAIT = 30.0  # seconds for a connection to be acknowledged


def frame(opcode: int, payload: bytes) -> bytes:
    """A client frame: final, masked (with a zero key, which leaves the payload as is)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return header + b"\0\0\0\0" + payload


def text(message: dict[str, Any]) -> bytes:
    return frame(TEXT, json.dumps(message).encode())


class Connection(asyncio.Protocol):
    """One connection with one subscription; `received` holds (arrival time, message)."""

    def __init__(self, host: str, path: str, subscribe: dict[str, Any], marker: bytes) -> None:
        self.host, self.path, self.subscribe, self.marker = host, path, subscribe, marker
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received: list[tuple[float, bytes]] = []
        self.marked = 0  # messages holding `marker`: those the run counts

    def _send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def _took_head(self, status: bytes) -> bool:
        """Whether the response's head has arrived, with this status (the buffer then
        holds what follows it); another status fails the connection."""
        head, found, rest = self.buffer.partition(b"\r\n\r\n")
        if not found:
            return False
        if not head.startswith(b"HTTP/1.1 " + status):
            self._fail(f"refused: {head.splitlines()[0]!r}")
            return False
        self.buffer = rest
        return True

    def _fail(self, reason: str) -> None:
        if not self.acknowledged.done():
            self.acknowledged.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.acknowledged.done():
            self.acknowledged.set_exception(ConnectionError(f"connection lost: {exc}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Subscriber(Connection):
    """graphql-transport-ws."""

    upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        )
        transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        self.buffer += data
        if not self.upgraded:
            if not self._took_head(b"101"):
                return
            self.upgraded = True
            self._send(text({"type": "connection_init", "payload": {}}))
        while (message := self._next_frame()) is not None:
            opcode, payload = message
            if opcode == TEXT:
                self._on_text(arrived, payload)
            elif opcode == PING:
                self._send(frame(PONG, payload))
            elif opcode == CLOSE:
                self._fail(f"closed by the server: {payload!r}")

    def _next_frame(self) -> tuple[int, bytes] | None:
        """The next whole server frame (unmasked, unfragmented) from the buffer, if any."""
        if len(self.buffer) < 2:
            return None
        first, size = self.buffer[0], self.buffer[1] & 0x7F
        start = 2
        if size == 126:
            if len(self.buffer) < 4:
                return None
            (size,), start = struct.unpack_from("!H", self.buffer, 2), 4
        elif size == 127:
            if len(self.buffer) < 10:
                return None
            (size,), start = struct.unpack_from("!Q", self.buffer, 2), 10
        if len(self.buffer) < start + size:
            return None
        payload = self.buffer[start : start + size]
        self.buffer = self.buffer[start + size :]
        return first & 0x0F, payload

    def _on_text(self, arrived: float, payload: bytes) -> None:
        if payload == b'{"type":"ping"}':  # the server's heartbeat (web/heartbeat.py)
            self._send(text({"type": "pong"}))
            return
        if self.acknowledged.done():
            self.received.append((arrived, payload))
            self.marked += self.marker in payload
            return
        if json.loads(payload).get("type") != "connection_ack":
            self._fail(f"expected connection_ack, got {payload!r}")
            return
        self._send(text({"id": "1", "type": "subscribe", "payload": self.subscribe}))
        self.acknowledged.set_result(None)


class EventStreamSubscriber(Connection):
    """One SSE subscription (a POST with Accept: text/event-stream); `received` holds
    (arrival time, the JSON of a `data:` line). Each event is one chunk of the chunked
    response, so its data line is whole once its newline arrives; chunk sizes and
    heartbeats (comment lines) are lines that do not start with `data:`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        body = json.dumps(self.subscribe).encode()
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._send(head.encode() + body)

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        self.buffer += data
        if not self.acknowledged.done():
            if not self._took_head(b"200"):
                return
            self.acknowledged.set_result(None)
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"data: "):
                self.received.append((arrived, line[6:].rstrip(b"\r")))
                self.marked += self.marker in line


TRANSPORTS: dict[str, type[Connection]] = {"ws": Subscriber, "sse": EventStreamSubscriber}


async def subscribe_many(
    base: str,
    count: int,
    query: str,
    variables: dict[str, Any],
    marker: bytes,
    transport: str = "ws",
) -> list[Connection]:
    """`count` connections to `base`'s /graphql over `transport` (TRANSPORTS), each with
    the subscription sent; each counts the messages that hold `marker`."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    payload = {"query": query, "variables": variables}
    loop = asyncio.get_running_loop()
    kind = TRANSPORTS[transport]
    factory = functools.partial(kind, f"{host}:{port}", "/graphql", payload, marker)
    subscribers: list[Connection] = []
    for _ in range(count):
        _, subscriber = await loop.create_connection(factory, host, port)
        await asyncio.wait_for(subscriber.acknowledged, ACK_WAIT)
        subscribers.append(subscriber)
    return subscribers


def results(subscriber: Connection) -> list[tuple[float, dict[str, Any]]]:
    """Each result's arrival time and data; any error, or any other message, fails."""
    found = []
    for arrived, payload in subscriber.received:
        message = json.loads(payload)
        if isinstance(subscriber, Subscriber):
            if message.get("type") != "next":
                raise AssertionError(f"subscription failed: {message}")
            message = message["payload"]
        if message.get("errors"):
            raise AssertionError(f"subscription failed: {message}")
        found.append((arrived, message["data"]))
    return found


def latency_ms(arrived: float, created_at: str) -> float:
    return (arrived - datetime.fromisoformat(created_at).timestamp()) * 1000
