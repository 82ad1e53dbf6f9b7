"""Subscriptions on the secured server: credentials in connection_init, visibility per
subscriber, and keys that stop working while subscribed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user, bearer, new_key, register_agent, token
from tests.ws_client import PROTOCOL, WAIT, GraphQLWebSocket, connect

EVENTS = """subscription($c: ID!) {
  conversationEvents(conversationId: $c) { kind ... on MessageEvent { message { content } } }
}"""
ACTIVITY = """subscription {
  conversationsActivity { kind conversation { id } }
}"""
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { id } }"


async def close_code(url: str, payload: Any) -> int | None:
    """The code the server closes with after this connection_init."""
    async with websockets.connect(url, subprotocols=[PROTOCOL]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), WAIT)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_bad_or_missing_credentials_close_the_socket_with_4403(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    dave = as_user(secured_http, "dave")
    secret, key_id = await new_key(dave, ["READ"])
    await dave.data(REVOKE, {"id": key_id})
    payloads = [
        {},
        {"Authorization": "Bearer nonsense"},
        bearer(token("alice", expires_in=-60)),
        {"apiKey": secret},
        {"Authorization": "Basic YWxpY2U6cHc="},
    ]
    for payload in payloads:
        assert await close_code(secured_server_url, payload) == 4403, payload


async def test_owner_and_participant_agent_hear_a_stranger_is_refused(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    await register_agent(as_user(secured_http, "dave"), "agent-1")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    c = conversation["id"]
    secret, _ = await new_key(as_user(secured_http, "dave"), ["READ"], agent_id="agent-1")
    async with (
        connect(secured_server_url, bearer(token("alice"))) as owner,
        connect(secured_server_url, {"apiKey": secret}) as agent,
        connect(secured_server_url, bearer(token("carol"))) as stranger,
    ):
        heard = [await owner.subscribe(EVENTS, {"c": c}), await agent.subscribe(EVENTS, {"c": c})]
        refused = await stranger.subscribe(EVENTS, {"c": c})
        error = await stranger.message(refused)
        assert error["type"] == "error" or error["payload"]["errors"], error
        errors = error["payload"] if error["type"] == "error" else error["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"
        await asyncio.sleep(0.2)
        await factories.message(alice, c, senderId="alice", content="hello")
        for socket, op in zip((owner, agent), heard, strict=True):
            event = (await socket.next(op))["conversationEvents"]
            assert event == {"kind": "MESSAGE_CREATED", "message": {"content": "hello"}}


async def test_a_revoked_key_ends_its_running_subscription(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    await register_agent(as_user(secured_http, "dave"), "agent-1")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    dave = as_user(secured_http, "dave")
    secret, key_id = await new_key(dave, ["READ"], agent_id="agent-1")
    async with connect(secured_server_url, {"apiKey": secret}) as agent:
        op = await agent.subscribe(EVENTS, {"c": conversation["id"]})
        await asyncio.sleep(0.2)
        await factories.message(alice, conversation["id"], senderId="alice", content="one")
        assert (await agent.next(op))["conversationEvents"]["kind"] == "MESSAGE_CREATED"
        await dave.data(REVOKE, {"id": key_id})
        await factories.message(alice, conversation["id"], senderId="alice", content="two")
        ended = await agent.message(op)
        errors = ended["payload"] if ended["type"] == "error" else ended["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        # A new subscription on the same socket is refused too.
        again = await agent.subscribe(EVENTS, {"c": conversation["id"]})
        refused = await agent.message(again)
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def until_live(carol: GraphQLClient, *listeners: tuple[GraphQLWebSocket, str]) -> None:
    """Create conversations that every listener may see (Carol's, with agent-1) until
    each has heard one: their live lists are open. A live list has no cursor to replay
    from, so there is no other way to know. Then one more, and drop everything each
    heard up to it: what comes next was written after it (not a late echo of these,
    which a busy machine may deliver after any fixed wait)."""
    for ws, op in listeners:
        for _ in range(50):
            await factories.conversation(carol, owner={"participantId": "carol"})
            try:
                await ws.next(op, wait=0.2)
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("the live list never opened")
    marker = (await factories.conversation(carol, owner={"participantId": "carol"}))["id"]
    for ws, op in listeners:
        while (await ws.next(op))["conversationsActivity"]["conversation"]["id"] != marker:
            pass


async def test_live_lists_carry_only_conversations_one_may_see(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    await register_agent(as_user(secured_http, "dave"), "agent-1")
    secret, _ = await new_key(as_user(secured_http, "dave"), ["READ"], agent_id="agent-1")
    async with (
        connect(secured_server_url, bearer(token("carol"))) as carol_ws,
        connect(secured_server_url, {"apiKey": secret}) as agent_ws,
    ):
        carol_op = await carol_ws.subscribe(ACTIVITY)
        agent_op = await agent_ws.subscribe(ACTIVITY)
        await until_live(carol, (carol_ws, carol_op), (agent_ws, agent_op))
        # factories invite the agent "agent-1" unless told otherwise.
        first = await factories.conversation(alice, owner={"participantId": "alice"})
        second = await factories.conversation(alice, owner={"participantId": "alice"})
        carols = await factories.conversation(
            carol, owner={"participantId": "carol"}, participants=[]
        )
        seen = (await carol_ws.next(carol_op))["conversationsActivity"]
        assert seen == {"kind": "CONVERSATION_CREATED", "conversation": {"id": carols["id"]}}
        await carol_ws.nothing_more(carol_op)
        seen_by_agent = [
            (await agent_ws.next(agent_op))["conversationsActivity"]["conversation"]["id"]
            for _ in range(2)
        ]
        assert seen_by_agent == [first["id"], second["id"]]
        await agent_ws.nothing_more(agent_op)
