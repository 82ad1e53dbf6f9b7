"""Apollo Client's multipart subscriptions over HTTP at /graphql: the real client
(HttpLink), and the wire format (`{}` heartbeat parts, `payload` parts) as Apollo's
spec describes it, with the same authentication and visibility as WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user, bearer, token
from tests.web.test_sse import EVENTS, errors_logged, from_now, http_url, node_client, send
from tests.ws_client import WAIT

# What Apollo Client's HttpLink sends for a subscription.
MULTIPART = {"Accept": "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json"}


async def parts(response: httpx.Response) -> AsyncIterator[Any]:
    """The JSON body of each part, as it arrives."""
    buffer = ""
    async for text in response.aiter_text():
        buffer += text
        while "\r\n--graphql" in buffer:
            part, _, buffer = buffer.partition("\r\n--graphql")
            _, _, body = part.partition("\r\n\r\n")
            if body.strip():
                yield json.loads(body)


async def test_apollo_client_receives_live_events(server_url: str, gql: GraphQLClient) -> None:
    conversation = await factories.conversation(gql)
    request = await from_now(gql, conversation["id"])
    url = http_url(server_url)
    async with node_client("apollo_multipart.mjs", url, request, {}, 2) as lines:
        await send(gql, conversation["id"], "first", "second")
        results = [await lines() for _ in range(3)]
    assert [r["data"]["conversationEvents"]["message"]["content"] for r in results[:2]] == [
        "first",
        "second",
    ]
    assert results[2] == {"complete": True}


async def test_the_wire_has_heartbeat_parts_then_payloads(
    server_url: str, gql: GraphQLClient
) -> None:
    conversation = await factories.conversation(gql)
    body = await from_now(gql, conversation["id"])
    async with (
        httpx.AsyncClient(timeout=WAIT) as client,
        client.stream("POST", http_url(server_url), json=body, headers=MULTIPART) as response,
    ):
        assert response.status_code == 200
        content_type = response.headers["content-type"]
        assert content_type.startswith("multipart/mixed")
        assert "boundary=graphql" in content_type
        received = parts(response)
        async with asyncio.timeout(WAIT):
            assert await anext(received) == {}  # a heartbeat first: the stream is open
            await send(gql, conversation["id"], "hello")
            part = await anext(received)
            while part == {}:
                part = await anext(received)
    event = part["payload"]["data"]["conversationEvents"]
    assert event["kind"] == "MESSAGE_CREATED"
    assert event["message"]["content"] == "hello"


async def test_credentials_and_visibility_are_those_of_any_request(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    request = {"query": EVENTS, "variables": {"c": conversation["id"]}}
    url = http_url(secured_server_url)
    async with httpx.AsyncClient(timeout=WAIT) as client:
        refused = await client.post(url, json=request, headers=MULTIPART)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with node_client(
        "apollo_multipart.mjs", url, request, bearer(token("carol")), 1
    ) as lines:
        result = await lines()
    codes = [
        e.get("extensions", {}).get("code") for e in result["graphQLErrors"] or result["errors"]
    ]
    assert codes == ["NOT_FOUND"]
    assert "data" not in result or not result.get("data")


async def test_a_stream_ends_when_its_credential_expires(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    body = await from_now(alice, conversation["id"])
    headers = {**MULTIPART, **bearer(token("alice", expires_in=6))}
    with errors_logged() as errors:
        async with (
            httpx.AsyncClient(timeout=WAIT) as client,
            client.stream("POST", http_url(secured_server_url), json=body, headers=headers) as r,
        ):
            assert r.status_code == 200
            await send(alice, conversation["id"], "while valid", sender="alice")
            # The stream ends by itself, its last part the expiry.
            async with asyncio.timeout(WAIT):
                received = [p async for p in parts(r) if p != {}]
    contents = [
        p["payload"]["data"]["conversationEvents"]["message"]["content"] for p in received[:-1]
    ]
    assert contents == ["while valid"]
    assert received[-1]["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert errors == []
