"""API keys through the secured endpoint: created by users, listed by prefix, revoked at once."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from starlette.applications import Starlette

from tests import factories
from tests.identities import CREATE_KEY, as_key, as_user, new_key
from tests.ws_client import connect

LIST = "query($all: Boolean!) { apiKeys(includeRevoked: $all) { id name prefix scopes active } }"
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { id active revokedAt } }"
VIEWER = "{ viewer { userId agentId scopes apiKeyId development } }"


async def test_a_key_acts_for_its_owner_with_its_scopes(secured_http: httpx.AsyncClient) -> None:
    dave = as_user(secured_http, "dave")
    secret, key_id = await new_key(dave, ["READ", "INGEST"], agent_id="agent-d")
    assert secret.startswith("tl_")
    assert len(secret) > 40
    viewer = (await as_key(secured_http, secret).data(VIEWER))["viewer"]
    assert viewer == {
        "userId": "dave",
        "agentId": "agent-d",
        "scopes": ["INGEST", "READ"],
        "apiKeyId": key_id,
        "development": False,
    }


async def test_listing_shows_the_prefix_never_the_secret(secured_http: httpx.AsyncClient) -> None:
    dave = as_user(secured_http, "dave")
    secret, key_id = await new_key(dave, ["READ"])
    [listed] = (await dave.data(LIST, {"all": False}))["apiKeys"]
    assert listed["id"] == key_id
    assert secret.startswith(listed["prefix"])
    assert len(listed["prefix"]) < len(secret) // 3
    assert secret not in str(listed)
    # Nobody else sees dave's keys, nor can revoke them.
    carol = as_user(secured_http, "carol")
    assert (await carol.data(LIST, {"all": True}))["apiKeys"] == []
    assert await carol.error_code(REVOKE, {"id": key_id}) == "NOT_FOUND"


async def test_revoking_stops_the_key_at_once_and_only_once(
    secured_http: httpx.AsyncClient,
) -> None:
    dave = as_user(secured_http, "dave")
    secret, key_id = await new_key(dave, ["READ"])
    agent = as_key(secured_http, secret)
    assert (await agent.data(VIEWER))["viewer"]["userId"] == "dave"
    revoked = (await dave.data(REVOKE, {"id": key_id}))["revokeApiKey"]
    assert revoked["active"] is False
    assert revoked["revokedAt"]
    response = await secured_http.post(
        "/graphql", json={"query": VIEWER}, headers={"X-API-Key": secret}
    )
    assert response.status_code == 401
    assert await dave.error_code(REVOKE, {"id": key_id}) == "CONFLICT"
    assert (await dave.data(LIST, {"all": False}))["apiKeys"] == []
    assert [k["active"] for k in (await dave.data(LIST, {"all": True}))["apiKeys"]] == [False]


async def test_a_key_cannot_make_or_revoke_keys(secured_http: httpx.AsyncClient) -> None:
    dave = as_user(secured_http, "dave")
    secret, key_id = await new_key(dave, ["READ", "WRITE", "INGEST"])
    agent = as_key(secured_http, secret)
    input = {"name": "more", "scopes": ["READ"]}
    assert await agent.error_code(CREATE_KEY, {"input": input}) == "FORBIDDEN"
    assert await agent.error_code(REVOKE, {"id": key_id}) == "FORBIDDEN"


async def test_bad_key_requests_are_refused_with_their_codes(
    secured_http: httpx.AsyncClient,
) -> None:
    dave = as_user(secured_http, "dave")
    cases = [
        {"name": " ", "scopes": ["READ"]},
        {"name": "k", "scopes": []},
        {"name": "k", "scopes": ["READ"], "expiresAt": "2001-01-01T00:00:00Z"},
        {"name": "k", "scopes": ["READ"], "agentId": ""},
    ]
    for input in cases:
        assert await dave.error_code(CREATE_KEY, {"input": input}) == "BAD_USER_INPUT", input
    assert (await dave.data(LIST, {"all": True}))["apiKeys"] == []


async def test_an_expired_key_is_refused(
    secured_http: httpx.AsyncClient, secured_app: Starlette
) -> None:
    dave = as_user(secured_http, "dave")
    input = {"name": "brief", "scopes": ["READ"], "expiresAt": "2999-01-01T00:00:00Z"}
    created = (await dave.data(CREATE_KEY, {"input": input}))["createApiKey"]
    # Time cannot be moved inside the server: age the stored key instead.
    async with secured_app.state.engine.begin() as connection:
        await connection.execute(text("UPDATE api_keys SET expires_at = created_at"))
    response = await secured_http.post(
        "/graphql", json={"query": VIEWER}, headers={"X-API-Key": created["secret"]}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "this API key has expired"


async def test_an_agents_key_creates_and_writes_its_own_conversations(
    secured_http: httpx.AsyncClient,
) -> None:
    secret, _ = await new_key(as_user(secured_http, "dave"), ["READ", "WRITE"], agent_id="bot")
    agent = as_key(secured_http, secret)
    created = await factories.conversation(
        agent, owner={"participantId": "bot", "participantType": "AGENT"}, participants=[]
    )
    await factories.message(agent, created["id"], senderId="bot", senderType="AGENT")
    read = "query($id: ID!) { conversation(id: $id) { messageCount } }"
    assert await agent.data(read, {"id": created["id"]}) == {"conversation": {"messageCount": 1}}
    # The agent's conversations are the agent's: dave made the key but does not take part.
    assert await as_user(secured_http, "dave").data(read, {"id": created["id"]}) == {
        "conversation": None
    }


async def test_each_operation_needs_its_scope(
    secured_http: httpx.AsyncClient, secured_server_url: str
) -> None:
    dave = as_user(secured_http, "dave")
    conversation = await factories.conversation(dave, owner={"participantId": "dave"})
    ingest_only, _ = await new_key(dave, ["INGEST"])
    key = as_key(secured_http, ingest_only)
    error = await key.error(VIEWER)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "READ" in error["message"]
    assert await key.error_code(CREATE_KEY, {"input": {"name": "k", "scopes": ["READ"]}}) == (
        "FORBIDDEN"
    )
    send = factories.mutation_document("sendMessage", "id")
    message = {"conversationId": conversation["id"], "senderId": "dave", "content": "x"}
    assert await key.error_code(send, {"input": message}) == "FORBIDDEN"
    async with connect(secured_server_url, {"apiKey": ingest_only}) as socket:
        op = await socket.subscribe(
            "subscription($c: ID!) { conversationEvents(conversationId: $c) { kind } }",
            {"c": conversation["id"]},
        )
        refused = await socket.message(op)
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
