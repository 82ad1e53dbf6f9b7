"""Credentials for the tests of the secured app: users' JWTs and API keys."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

from tests.graphql_client import GraphQLClient

JWT_SECRET = "threadline-tests-hs256-secret-of-enough-length"


def token(subject: str, *, expires_in: int = 3600, key: Any = JWT_SECRET, **claims: Any) -> str:
    algorithm = "HS256" if isinstance(key, str) else "RS256"
    payload = {"sub": subject, "exp": int(time.time()) + expires_in, **claims}
    return jwt.encode(payload, key, algorithm=algorithm)


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def as_user(http: httpx.AsyncClient, user_id: str, **options: Any) -> GraphQLClient:
    return GraphQLClient(http, bearer(token(user_id, **options)))


def as_key(http: httpx.AsyncClient, secret: str) -> GraphQLClient:
    return GraphQLClient(http, {"X-API-Key": secret})


CREATE_KEY = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { id prefix scopes agentId active } }
}"""


async def new_key(
    owner: GraphQLClient, scopes: list[str], agent_id: str | None = None
) -> tuple[str, str]:
    """(secret, global id) of a key the owner creates."""
    input: dict[str, Any] = {"name": "test key", "scopes": scopes, "agentId": agent_id}
    created = (await owner.data(CREATE_KEY, {"input": input}))["createApiKey"]
    return created["secret"], created["apiKey"]["id"]


async def register_agent(owner: GraphQLClient, agent_id: str) -> None:
    """The owner claims the agent id (before anybody else names it)."""
    document = "mutation($a: String!) { registerAgent(agentId: $a) { agentId } }"
    await owner.data(document, {"a": agent_id})
