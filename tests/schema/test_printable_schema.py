"""The served schema prints with graphql-core and with graphql-js (codegen's schema-ast,
schema registries and diff tools print it as graphql-js does), survives a re-parse, and
is what schema.graphql holds."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import build_client_schema, build_schema, get_introspection_query, print_schema

from main import SCHEMA_FILE
from tests import factories
from tests.graphql_client import GraphQLClient

CLIENTS = Path(__file__).parents[1] / "clients"
# Every option main.py's export-schema prints with (graphql-core's introspection_from_schema).
INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
    one_of=True,
)


async def served_introspection(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": INTROSPECTION})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


def printed_by_graphql_js(introspection: dict[str, Any]) -> str:
    # The script re-parses and rebuilds what it printed, and fails if that prints otherwise.
    completed = subprocess.run(
        ["node", "print_schema.mjs"],
        cwd=CLIENTS,
        input=httpx.Response(200, json=introspection).text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


async def test_graphql_js_and_graphql_core_print_the_schema_alike(
    http: httpx.AsyncClient,
) -> None:
    introspection = await served_introspection(http)
    by_core = print_schema(build_client_schema(introspection["data"]))
    assert print_schema(build_schema(by_core)) == by_core
    assert printed_by_graphql_js(introspection) == by_core
    assert SCHEMA_FILE.read_text() == by_core + "\n", "run `main.py export-schema`"


async def test_no_input_has_a_default_graphql_js_cannot_print(http: httpx.AsyncClient) -> None:
    # Object defaults of the JSON scalar are what printSchema refuses ("Cannot convert
    # value to AST: {}"); none is left, the JSON inputs being nullable instead.
    introspection = (await served_introspection(http))["data"]["__schema"]
    defaults = [
        (named["name"], value["name"], value["defaultValue"])
        for named in introspection["types"]
        for value in named.get("inputFields") or []
        if (value["defaultValue"] or "").startswith("{")
    ]
    assert defaults == []


@pytest.mark.parametrize("sent", ["null", "left out"])
async def test_a_json_object_input_left_out_or_null_is_empty(gql: GraphQLClient, sent: str) -> None:
    def given(*names: str) -> dict[str, None]:
        return dict.fromkeys(names) if sent == "null" else {}

    conversation = await factories.conversation(gql, "id metadata", **given("metadata"))
    assert conversation["metadata"] == {}
    plan = await factories.plan(gql, conversation["id"], [[]], "context", **given("context"))
    assert plan["context"] == {}
    trace = await factories.trace(gql, conversation["id"])
    fields = "id inputs attributes"
    span = await factories.span(gql, trace["id"], fields, **given("inputs", "attributes"))
    assert (span["inputs"], span["attributes"]) == ({}, {})
    ended = await factories.end_span(
        gql, span["id"], "outputs attributes", **given("outputs", "attributes")
    )
    assert (ended["outputs"], ended["attributes"]) == ({}, {})


async def test_a_json_object_input_given_is_kept(gql: GraphQLClient) -> None:
    conversation = await factories.conversation(gql, "metadata", metadata={"a": [1, {"b": None}]})
    assert conversation["metadata"] == {"a": [1, {"b": None}]}
