"""X-Request-ID: kept from the request when it is sound, else made; sent back on every
response and the WebSocket upgrade; on every log record and in masked errors."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette

from config import Settings
from tests.graphql_client import GraphQLClient
from tests.identities import JWT_SECRET
from tests.web.conftest import assert_unavailable, client_of
from tests.web.faults import FAILING_QUERY, unreadable_component
from tests.web.test_unavailable import app_on, unreachable_url  # noqa: F401 (a fixture)
from tests.ws_client import connect

BAD_ID_QUERY = '{ conversation(id: "Q29udmVyc2F0aW9uOm5vcGU=") { id } }'


def is_generated(request_id: str) -> bool:
    return len(request_id) == 32 and all(c in "0123456789abcdef" for c in request_id)


async def test_a_sound_id_is_echoed(http: httpx.AsyncClient) -> None:
    sent = "edge-7f3a/2026-12-07T23:59:59Z#1"
    response = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": sent}
    )
    assert response.headers["x-request-id"] == sent
    assert response.headers.get_list("x-request-id") == [sent]


async def test_an_id_is_made_for_every_response(http: httpx.AsyncClient) -> None:
    answered = await http.post("/graphql", json={"query": "{ __typename }"})
    refused = await http.post("/graphql", content="{}", headers={"content-type": "text/plain"})
    assert refused.status_code == 400
    health = await http.get("/healthz")
    ids = [r.headers["x-request-id"] for r in (answered, refused, health)]
    assert all(is_generated(request_id) for request_id in ids)
    assert len(set(ids)) == 3


@pytest.mark.parametrize(
    "sent",
    ["x" * 129, "two words", "tab\there", "caf\u00e9".encode().decode("latin-1"), " ", ""],
)
async def test_an_unsound_id_is_replaced(http: httpx.AsyncClient, sent: str) -> None:
    response = await http.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers=[(b"X-Request-ID", sent.encode("latin-1"))],
    )
    assert is_generated(response.headers["x-request-id"])


async def test_the_longest_sound_id_is_kept(http: httpx.AsyncClient) -> None:
    sent = "y" * 128
    response = await http.get("/healthz", headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] == sent


async def test_the_websocket_upgrade_returns_the_id(server_url: str) -> None:
    async with connect(server_url, additional_headers={"X-Request-ID": "socket-1"}) as client:
        assert client.socket.response is not None
        assert client.socket.response.headers["X-Request-ID"] == "socket-1"
    async with connect(server_url) as client:
        assert client.socket.response is not None
        assert is_generated(client.socket.response.headers["X-Request-ID"])


async def test_log_records_carry_the_id(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="threadline.errors"):
        await http.post("/graphql", json={"query": BAD_ID_QUERY}, headers={"X-Request-ID": "r-42"})
    [record] = [r for r in caplog.records if r.name == "threadline.errors"]
    assert record.request_id == "r-42"  # type: ignore[attr-defined]
    assert "r-42" in record.getMessage()


async def test_a_masked_error_carries_the_id(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    await unreadable_component(app, gql)

    with caplog.at_level(logging.ERROR, logger="threadline.errors"):
        response = await http.post(
            "/graphql",
            json={"query": FAILING_QUERY},
            headers={"X-Request-ID": "masked-1"},
        )

    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "masked-1"}
    assert "masked-1" in error["message"]
    [record] = [r for r in caplog.records if r.name == "threadline.errors"]
    assert record.request_id == "masked-1"  # type: ignore[attr-defined]


async def test_a_503_before_graphql_runs_carries_the_id(
    settings: Settings,
    unreachable_url: str,  # noqa: F811 (the fixture imported above)
) -> None:
    """An API key that cannot be checked (the database is down) is refused before
    GraphQL runs: the body's requestId is still the request's X-Request-ID."""
    changes = {"auto_migrate": False, "broadcast_url": "memory://", "jwt_secret": JWT_SECRET}
    key = {"Authorization": "Bearer tl_" + "x" * 43}
    async with app_on(settings, unreachable_url, **changes) as app, client_of(app) as client:
        sent = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={**key, "X-Request-ID": "down-1"}
        )
        made = await client.post("/graphql", json={"query": "{ __typename }"}, headers=key)
    assert sent.status_code == 503
    [error] = sent.json()["errors"]
    assert error["extensions"]["requestId"] == sent.headers["x-request-id"] == "down-1"
    assert "(request id down-1)" in error["message"]
    made_id = made.headers["x-request-id"]
    assert is_generated(made_id)
    assert assert_unavailable(made)["extensions"]["requestId"] == made_id
