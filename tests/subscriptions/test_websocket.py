"""The WebSocket endpoint: one protocol, and browsers of other origins kept out."""

from __future__ import annotations

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from tests.ws_client import PROTOCOL


async def test_a_page_of_another_origin_cannot_open_a_socket(server_url: str) -> None:
    with pytest.raises(InvalidStatus):
        async with websockets.connect(
            server_url, subprotocols=[PROTOCOL], origin=Origin("http://evil.example")
        ):
            pass


async def test_a_page_of_the_same_origin_can(server_url: str) -> None:
    same = Origin(server_url.replace("ws://", "http://").removesuffix("/graphql"))
    async with websockets.connect(server_url, subprotocols=[PROTOCOL], origin=same) as socket:
        assert socket.subprotocol == PROTOCOL


async def init_legacy(url: str) -> None:
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-ws")]) as socket:
        await socket.send('{"type": "connection_init", "payload": {}}')
        await socket.recv()


async def test_the_legacy_graphql_ws_protocol_is_not_served(server_url: str) -> None:
    with pytest.raises((InvalidStatus, ConnectionClosed)):
        await init_legacy(server_url)
