"""Finding 2: live streams re-check access, on this process and on every other one.

A subscriber who loses access (removed from the conversation) gets a FORBIDDEN error
and nothing more; a subscriber joining a running shared stream passes the same check
as one starting it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from resolvers.ids import from_global_id
from tests import factories
from tests.databases import fresh_database
from tests.graphql_client import GraphQLClient
from tests.identities import JWT_SECRET, as_user, bearer, token
from tests.security.world import SET_ROLE
from tests.subscriptions.processes import ServerProcess, serving
from tests.ws_client import GraphQLWebSocket, connect

EVENTS = """subscription($c: ID!) {
  conversationEvents(conversationId: $c) { kind ... on MessageEvent { message { content } } }
}"""
REMOVE = """
mutation($c: ID!, $p: String!) { removeParticipant(conversationId: $c, participantId: $p) { id } }
"""
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
_broadcast = os.environ.get("TEST_BROADCAST_URL", "")
REDIS_URL = _broadcast if _broadcast.startswith("redis://") else None


async def _shared_conversation(alice: GraphQLClient) -> str:
    conversation = await factories.conversation(
        alice, owner={"participantId": "alice"}, participants=[{"participantId": "bob"}]
    )
    c: str = conversation["id"]
    return c


async def _ended_forbidden(ws: GraphQLWebSocket, op: str) -> None:
    """The subscription's next message is a FORBIDDEN error, and nothing follows."""
    message = await ws.message(op)
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN", message
    follow = await ws.message(op)
    assert follow["type"] == "complete", follow


async def _watching(ws: GraphQLWebSocket, op: str, alice: GraphQLClient, c: str) -> None:
    """Wait until the subscription is live (it follows from when its feed opened, which
    the protocol does not announce): alice speaks until it hears her, at most 40 times."""
    for _ in range(40):
        await factories.message(alice, c, senderId="alice", content="before")
        try:
            heard = await ws.next(op, wait=0.25)
        except TimeoutError:
            continue
        assert heard["conversationEvents"]["message"] == {"content": "before"}
        while True:  # what the earlier attempts still bring
            try:
                await ws.next(op, wait=0.3)
            except TimeoutError:
                return
    raise AssertionError("the subscription never heard alice")


async def test_finding2_a_removed_participants_stream_ends(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    await _removal_ends_bobs_stream(as_user(secured_http, "alice"), secured_server_url)


async def test_a_demoted_participant_keeps_reading_live(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    """Demoted to OBSERVER, bob may still read: his stream hears the change (and access
    is checked again) and goes on; his writes are refused."""
    alice = as_user(secured_http, "alice")
    c = await _shared_conversation(alice)
    async with connect(secured_server_url, bearer(token("bob"))) as ws:
        op = await ws.subscribe(EVENTS, {"c": c})
        await _watching(ws, op, alice, c)
        await alice.data(SET_ROLE, {"c": c, "p": "bob", "role": "OBSERVER"})
        assert (await ws.next(op))["conversationEvents"]["kind"] == "PARTICIPANT_ROLE_CHANGED"
        await factories.message(alice, c, senderId="alice", content="still heard")
        heard = await ws.next(op)
        assert heard["conversationEvents"]["message"] == {"content": "still heard"}
        bob = as_user(secured_http, "bob")
        send = factories.mutation_document("sendMessage", "id")
        message = {"input": {"conversationId": c, "senderId": "bob", "content": "x"}}
        assert await bob.error_code(send, message) == "FORBIDDEN"


async def _removal_ends_bobs_stream(alice: GraphQLClient, ws_url: str) -> None:
    """bob hears alice's conversation on `ws_url` until she removes him: then his stream
    ends with FORBIDDEN, and her next message does not reach him."""
    c = await _shared_conversation(alice)
    async with connect(ws_url, bearer(token("bob"))) as ws:
        op = await ws.subscribe(EVENTS, {"c": c})
        await _watching(ws, op, alice, c)
        await alice.data(REMOVE, {"c": c, "p": "bob"})
        await _ended_forbidden(ws, op)
        await factories.message(alice, c, senderId="alice", content="after")
        await ws.nothing_more(op)


async def test_finding2_joining_a_shared_stream_checks_access(
    secured_server_url: str, secured_http: httpx.AsyncClient, secured_app: Starlette
) -> None:
    """bob's stream runs; he loses access without this process hearing of it yet (the
    row changed, its event not delivered: as on a process the broadcast is slow to
    reach). A second socket of bob's sending the very same subscription is refused."""
    alice = as_user(secured_http, "alice")
    c = await _shared_conversation(alice)
    bob = bearer(token("bob"))
    async with connect(secured_server_url, bob) as first, connect(secured_server_url, bob) as late:
        op = await first.subscribe(EVENTS, {"c": c})
        await _watching(first, op, alice, c)
        async with secured_app.state.engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE participants SET active = false "
                    "WHERE participant_id = 'bob' AND conversation_id = :c"
                ),
                {"c": _raw(c, connection.dialect.name)},
            )
        refused = await late.subscribe(EVENTS, {"c": c})
        message = await late.message(refused)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND", message


def _raw(global_id: str, dialect: str) -> Any:
    raw = from_global_id(global_id)[1]
    # SQLite stores UUIDs as 32 hex digits.
    return raw.hex if dialect == "sqlite" else raw


@pytest.fixture(scope="module")
async def secured_pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    if POSTGRES_URL is None or REDIS_URL is None:
        pytest.skip("needs TEST_DATABASE_URL and a redis:// TEST_BROADCAST_URL")
    logs: Path = tmp_path_factory.mktemp("secured-pair")
    async with fresh_database(POSTGRES_URL) as database_url:
        env = {"DATABASE_URL": database_url, "BROADCAST_URL": REDIS_URL}
        env["AUTH_JWT_SECRET"] = JWT_SECRET
        envs = {"a": {**env, "AUTO_MIGRATE": "1"}, "b": {**env, "AUTO_MIGRATE": "0"}}
        async with serving(logs, **envs) as servers:
            yield servers


async def test_finding2_removal_on_one_process_ends_the_stream_on_the_other(
    secured_pair: dict[str, ServerProcess],
) -> None:
    a, b = secured_pair["a"], secured_pair["b"]
    async with httpx.AsyncClient(base_url=b.http_url, timeout=10) as http_b:
        await _removal_ends_bobs_stream(as_user(http_b, "alice"), a.ws_url)
