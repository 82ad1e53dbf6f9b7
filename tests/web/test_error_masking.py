"""An unexpected exception reaches the client as a bare INTERNAL_SERVER_ERROR with a
request id; its detail goes to the log, under the same id."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from tests import factories
from tests.graphql_client import GraphQLClient

QUERY = "{ components { edges { node { key type } } } }"


async def test_an_unexpected_error_is_masked_and_logged(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    await factories.component_version(gql, "summarize", {"text": "Summarize."})
    # A stored value the code does not know (as a row written by a newer release
    # would be): loading it fails inside a resolver, which no client input can cause.
    async with app.state.engine.begin() as connection:
        await connection.execute(text("UPDATE components SET type = 'NOT_A_TYPE'"))

    with caplog.at_level(logging.ERROR, logger="threadline.errors"):
        response = await http.post("/graphql", json={"query": QUERY})

    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    request_id = error["extensions"]["requestId"]
    assert request_id
    assert error == {
        "message": f"Internal server error (request id {request_id})",
        "locations": [{"line": 1, "column": 3}],
        "path": ["components"],
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    }
    for detail in ("NOT_A_TYPE", "LookupError", "Traceback", "componenttype", "SELECT"):
        assert detail not in response.text

    [record] = [r for r in caplog.records if r.name == "threadline.errors"]
    assert record.levelno == logging.ERROR
    assert request_id in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], LookupError)
    assert "NOT_A_TYPE" in str(record.exc_info[1])


async def test_expected_errors_keep_their_message_and_code(http: httpx.AsyncClient) -> None:
    query = '{ conversation(id: "Q29udmVyc2F0aW9uOm5vcGU=") { id } }'
    body = (await http.post("/graphql", json={"query": query})).json()
    [error] = body["errors"]
    assert error["message"] == "'Q29udmVyc2F0aW9uOm5vcGU=' is not a valid id"
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
