"""Small faults: a JWT subject no database can store is a 401, not a server fault; with
introspection off, errors no longer suggest the schema's names."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from config import Settings
from tests.identities import bearer, token
from tests.web.conftest import app_with

QUERY = "{ viewer { userId } conversations { totalCount } }"


@pytest.mark.parametrize(
    "subject",
    ["al\u0000ice", "", "  ", "\ud800", "x" * 256],
    ids=["nul", "empty", "blank", "lone-surrogate", "too-long"],
)
async def test_a_jwt_subject_no_database_can_store_is_401(
    secured_http: httpx.AsyncClient, subject: str
) -> None:
    response = await secured_http.post(
        "/graphql", json={"query": QUERY}, headers=bearer(token(subject))
    )
    assert response.status_code == 401, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "subject (`sub`)" in error["message"]


async def test_a_jwt_subject_of_255_characters_is_a_user(secured_http: httpx.AsyncClient) -> None:
    subject = "x" * 255
    response = await secured_http.post(
        "/graphql", json={"query": QUERY}, headers=bearer(token(subject))
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["userId"] == subject


SEND = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }"
MESSAGE = {"conversationId": "Q29udmVyc2F0aW9uOjA=", "senderId": "u"}
# Each misspells a name of the schema, which graphql-core then suggests.
MISSPELT: list[tuple[str, dict[str, Any]]] = [
    ("{ conversations { nodez { id } } }", {}),  # a field
    ("{ conversations(firts: 1) { totalCount } }", {}),  # an argument
    ("query($n: Intt) { conversations(first: $n) { totalCount } }", {}),  # a type
    (SEND, {"input": {**MESSAGE, "metadta": {}}}),  # an input field, in a variable
    (SEND, {"input": {**MESSAGE, "senderType": "AGENTT"}}),  # an enum value
]


async def error_messages(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> list[str]:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    assert errors, response.text
    return [error["message"] for error in errors]


@pytest.mark.parametrize(
    ("query", "variables"), MISSPELT, ids=["field", "argument", "type", "input-field", "enum"]
)
async def test_suggestions_only_with_introspection_on(
    http: httpx.AsyncClient,
    app: Starlette,
    settings: Settings,
    query: str,
    variables: dict[str, Any],
) -> None:
    shown = await error_messages(http, query, variables)
    assert any(" Did you mean " in message for message in shown), shown
    async with app_with(settings, introspection=False) as closed:
        hidden = await error_messages(closed, query, variables)
    assert not any("Did you mean" in message for message in hidden), hidden
    # Only the suggestion goes (in the middle of a variable's: "... Found: {...}.").
    assert [re.sub(r" Did you mean [^?]*\?", "", message) for message in shown] == hidden
