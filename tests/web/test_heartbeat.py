"""The graphql-transport-ws heartbeat, seen through the real graphql-ws client: the
server pings an acknowledged socket every WS_PING_INTERVAL_SECONDS and closes, with
4408, one whose client has not answered a ping by the next."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from config import Settings
from tests.conftest import served
from tests.web.test_client_recipes import node_lines
from web.app import create_app
from web.heartbeat import PONG_TIMEOUT, PONG_TIMEOUT_REASON

# Short, so that a few pings pass in a test; long enough for a loaded machine's pong.
INTERVAL_S = 0.5


@pytest.fixture(scope="module")
async def pinging_url(app: Starlette, settings: Settings) -> AsyncIterator[str]:
    application = create_app(
        replace(settings, auto_migrate=False, ws_ping_interval_seconds=INTERVAL_S)
    )
    async with LifespanManager(application), served(application) as url:
        yield url


async def graphql_ws(url: str, pings: int, mode: str) -> dict[str, Any]:
    [result] = [line async for line in node_lines("heartbeat.mjs", url, str(pings), mode)]
    return result


async def test_the_server_pings_and_a_client_that_pongs_stays_connected(
    pinging_url: str,
) -> None:
    result = await graphql_ws(pinging_url, 3, "pong")
    # Three pings seen, the socket still open: the first two pongs were taken.
    assert result == {"pings": 3, "code": None, "reason": None}


async def test_a_client_that_never_pongs_is_closed_with_4408(pinging_url: str) -> None:
    result = await graphql_ws(pinging_url, 1, "silent")
    assert result == {"pings": 1, "code": PONG_TIMEOUT, "reason": PONG_TIMEOUT_REASON}


def test_the_interval_is_15_seconds_unless_configured() -> None:
    assert Settings().ws_ping_interval_seconds == 15
    configured = Settings.from_env({"WS_PING_INTERVAL_SECONDS": "0"})
    assert configured.ws_ping_interval_seconds == 0
    with pytest.raises(ValueError, match="WS_PING_INTERVAL_SECONDS"):
        Settings.from_env({"WS_PING_INTERVAL_SECONDS": "-1"})
