"""Body size, CSRF and GET mutations: refused before GraphQL runs, GraphQL-shaped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from config import Settings
from tests.web.conftest import LIMITS, app_with, only_error

QUERY = "{ conversations { totalCount } }"
ANSWER = {"data": {"conversations": {"totalCount": 0}}}
CREATE = 'mutation { createConversation(input: {owner: {participantId: "user-1"}}) { id } }'
PREFLIGHT = {"X-Threadline-CSRF": "1"}


def padded(size: int) -> bytes:
    """A JSON request for QUERY of exactly `size` bytes."""
    body = json.dumps({"query": QUERY}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def chunks(body: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


JSON = {"content-type": "application/json"}
LIMIT = LIMITS["max_body_bytes"]


async def test_a_body_at_the_limit_is_read(limited: httpx.AsyncClient) -> None:
    response = await limited.post("/graphql", content=padded(LIMIT), headers=JSON)
    assert response.json() == ANSWER


async def test_a_body_past_the_declared_limit_is_refused(limited: httpx.AsyncClient) -> None:
    response = await limited.post("/graphql", content=padded(LIMIT + 1), headers=JSON)
    error = only_error(response, 413)
    assert error == {
        "message": "The request body is larger than the limit of 1000 bytes",
        "extensions": {"code": "PAYLOAD_TOO_LARGE"},
    }


async def test_a_streamed_body_is_counted(limited: httpx.AsyncClient) -> None:
    # Chunked: no Content-Length to look at.
    response = await limited.post("/graphql", content=chunks(padded(LIMIT + 1)), headers=JSON)
    assert "content-length" not in response.request.headers
    assert only_error(response, 413)["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}
    response = await limited.post("/graphql", content=chunks(padded(LIMIT)), headers=JSON)
    assert response.json() == ANSWER


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
async def test_a_post_a_form_could_send_is_refused(
    http: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = json.dumps({"query": CREATE}).encode()
    response = await http.post("/graphql", content=body, headers=headers)
    error = only_error(response, 400)
    assert error["extensions"] == {"code": "CSRF_PREVENTED"}
    assert "application/json" in error["message"]
    # Nothing was written.
    response = await http.post("/graphql", json={"query": QUERY})
    assert response.json() == ANSWER


async def test_a_post_with_a_preflight_header_passes_the_csrf_check(
    http: httpx.AsyncClient,
) -> None:
    # ...to be refused by GraphQL over HTTP, which reads JSON only: GraphQL-shaped too.
    body = json.dumps({"query": QUERY}).encode()
    headers = {"content-type": "text/plain", **PREFLIGHT}
    error = only_error(await http.post("/graphql", content=body, headers=headers), 400)
    assert error == {"message": "Unsupported content type", "extensions": {"code": "BAD_REQUEST"}}


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
async def test_a_json_post_needs_no_preflight_header(
    http: httpx.AsyncClient, content_type: str
) -> None:
    body = json.dumps({"query": QUERY}).encode()
    response = await http.post("/graphql", content=body, headers={"content-type": content_type})
    assert response.json() == ANSWER


async def test_a_get_that_runs_a_query_needs_a_preflight_header(http: httpx.AsyncClient) -> None:
    params = {"query": QUERY}
    for headers in ({}, {"X-Threadline-CSRF": ""}):
        error = only_error(await http.get("/graphql", params=params, headers=headers), 400)
        assert error["extensions"] == {"code": "CSRF_PREVENTED"}
        assert "X-Threadline-CSRF" in error["message"]
    for headers in (PREFLIGHT, {"Apollo-Require-Preflight": "true"}):
        response = await http.get("/graphql", params=params, headers=headers)
        assert response.json() == ANSWER


async def test_the_graphiql_page_needs_no_preflight_header(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize("headers", [{}, PREFLIGHT])
async def test_a_mutation_sent_with_get_is_refused(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.get("/graphql", params={"query": CREATE}, headers=headers)
    error = only_error(response, 405)
    assert error == {
        "message": "Mutations cannot be sent with GET: send them with POST",
        "extensions": {"code": "METHOD_NOT_ALLOWED"},
    }
    assert response.headers["allow"] == "POST"
    response = await http.post("/graphql", json={"query": QUERY})
    assert response.json() == ANSWER


async def test_get_refuses_the_mutation_its_operation_name_picks(
    http: httpx.AsyncClient,
) -> None:
    document = f"query Count {QUERY} mutation Create {CREATE.removeprefix('mutation ')}"
    params = {"query": document, "operationName": "Create"}
    assert (await http.get("/graphql", params=params, headers=PREFLIGHT)).status_code == 405
    params["operationName"] = "Count"
    response = await http.get("/graphql", params=params, headers=PREFLIGHT)
    assert response.json() == ANSWER


async def test_strawberrys_own_refusals_are_graphql_shaped(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", content=b"{not json", headers=JSON)
    error = only_error(response, 400)
    assert error == {
        "message": "Unable to parse request body as JSON",
        "extensions": {"code": "BAD_REQUEST"},
    }
    error = only_error(await http.post("/graphql", json={}), 400)
    assert error == {
        "message": "No GraphQL query found in the request",
        "extensions": {"code": "BAD_REQUEST"},
    }


async def test_limits_come_before_authentication(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    secret = "threadline-limits-test-secret-of-enough-length"
    async with app_with(settings, jwt_secret=secret, max_body_bytes=100) as client:
        response = await client.post("/graphql", content=padded(101), headers=JSON)
        assert only_error(response, 413)["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}
        response = await client.get("/graphql", params={"query": CREATE})
        assert only_error(response, 405)["extensions"] == {"code": "METHOD_NOT_ALLOWED"}
        # Past the limits, authentication answers.
        response = await client.post("/graphql", json={"query": QUERY})
        assert only_error(response, 401)["extensions"] == {"code": "UNAUTHENTICATED"}
