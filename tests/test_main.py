"""The served app: routes, GraphiQL, health, the exported schema, the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from graphql import GraphQLError

from main import SCHEMA_FILE
from resolvers.errors import NotFound
from schema import schema
from schema.errors import classify
from tests.graphql_client import GraphQLClient


async def test_healthz(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_graphiql_is_served_to_browsers(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_query_over_get(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": "{ conversations { totalCount } }"})
    assert response.json() == {"data": {"conversations": {"totalCount": 0}}}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ conversations { ", "GRAPHQL_PARSE_FAILED"),
        ("{ conversations { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ('{ conversations(first: "ten") { totalCount } }', "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_document_errors_have_codes(http: httpx.AsyncClient, query: str, code: str) -> None:
    response = await http.post("/graphql", json={"query": query})
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == [code]


async def test_variable_errors_are_bad_user_input(gql: GraphQLClient) -> None:
    query = "query($n: Int) { conversations(first: $n) { totalCount } }"
    assert await gql.error_code(query, {"n": "ten"}) == "BAD_USER_INPUT"


def test_unexpected_errors_are_masked_with_a_request_id() -> None:
    error = GraphQLError("boom: secret connection string", original_error=RuntimeError("secret"))
    masked = classify(error, "req-1")
    assert masked.message == "Internal server error (request id req-1)"
    assert masked.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-1"}


def test_expected_errors_keep_message_and_code() -> None:
    error = GraphQLError("x", original_error=NotFound("Message 'abc' does not exist"))
    kept = classify(error, "req-1")
    assert kept.message == "Message 'abc' does not exist"
    assert kept.extensions == {"code": "NOT_FOUND"}


def test_exported_schema_matches_the_code() -> None:
    exported = Path(SCHEMA_FILE).read_text()
    assert exported == schema.as_str() + "\n", (
        f"schema.graphql is stale: run `{sys.executable} main.py export-schema`"
    )
