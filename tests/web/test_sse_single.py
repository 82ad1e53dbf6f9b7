"""graphql-sse's single connection mode at /graphql: a reservation (PUT), its stream
(GET), operations on it (POST, DELETE), with the real client and by hand."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user, bearer, token
from tests.web.test_sse import (
    EVENT_STREAM,
    EVENTS,
    from_now,
    http_url,
    next_events,
    node_client,
    send,
    sse_events,
)
from tests.ws_client import WAIT

TOKEN = "X-GraphQL-Event-Stream-Token"
# PUT and DELETE, like a POST without a JSON body, need a header no simple request has.
PREFLIGHT = {"X-Threadline-CSRF": "1"}


async def test_the_graphql_sse_client_in_single_connection_mode(
    server_url: str, gql: GraphQLClient
) -> None:
    conversation = await factories.conversation(gql)
    request = await from_now(gql, conversation["id"])
    url = http_url(server_url)
    async with node_client("sse_subscribe.mjs", url, request, PREFLIGHT, 2, "single") as lines:
        await send(gql, conversation["id"], "one", "two")
        results = [await lines() for _ in range(3)]
    assert [r["data"]["conversationEvents"]["message"]["content"] for r in results[:2]] == [
        "one",
        "two",
    ]
    assert results[2] == {"complete": True}


async def test_reserve_stream_start_and_stop_by_hand(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    operation: dict[str, Any] = {
        **await from_now(alice, conversation["id"]),
        "extensions": {"operationId": "op-1"},
    }
    url = http_url(secured_server_url)
    alices, carols = bearer(token("alice")), bearer(token("carol"))
    async with httpx.AsyncClient(timeout=WAIT) as client:
        assert (await client.put(url, headers=PREFLIGHT)).status_code == 401
        reserved = await client.put(url, headers={**PREFLIGHT, **alices})
        assert reserved.status_code == 201
        held = {TOKEN: reserved.text}
        unknown = await client.get(url, headers={**EVENT_STREAM, TOKEN: "not-a-token"})
        assert unknown.status_code == 404
        async with client.stream("GET", url, headers={**EVENT_STREAM, **held}) as stream:
            assert stream.status_code == 200
            again = await client.get(url, headers={**EVENT_STREAM, **held})
            assert again.status_code == 409
            # Another user holding the token can neither start nor stop operations on it.
            stranger = await client.post(url, json=operation, headers={**held, **carols})
            assert stranger.status_code == 404
            started = await client.post(url, json=operation, headers={**held, **alices})
            assert started.status_code == 202
            twice = await client.post(url, json=operation, headers={**held, **alices})
            assert twice.status_code == 409
            await send(alice, conversation["id"], "hi", sender="alice")
            events = sse_events(stream)
            (received,) = await next_events(events, 1)
            message = received.json()
            assert message["id"] == "op-1"
            assert message["payload"]["data"]["conversationEvents"]["message"]["content"] == "hi"
            stop = {**PREFLIGHT, **held, **alices}
            stopped = await client.delete(url, params={"operationId": "op-1"}, headers=stop)
            assert stopped.status_code == 200
            async with asyncio.timeout(WAIT):
                async for event in events:
                    if event.event == "complete":
                        assert json.loads(event.data) == {"id": "op-1"}
                        break


async def test_a_strangers_conversation_is_not_found_on_the_stream(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    carols = {**PREFLIGHT, **bearer(token("carol"))}
    operation = {
        "query": EVENTS,
        "variables": {"c": conversation["id"]},
        "extensions": {"operationId": "peek"},
    }
    url = http_url(secured_server_url)
    async with httpx.AsyncClient(timeout=WAIT) as client:
        held = {TOKEN: (await client.put(url, headers=carols)).text}
        async with client.stream("GET", url, headers={**EVENT_STREAM, **held}) as stream:
            assert (
                await client.post(url, json=operation, headers={**held, **carols})
            ).status_code == 202
            (refused,) = await next_events(sse_events(stream), 1)
    payload = refused.json()["payload"]
    assert payload["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert payload.get("data") is None
