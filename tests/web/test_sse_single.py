"""graphql-sse's single connection mode at /graphql: a reservation (PUT), its stream
(GET), operations on it (POST, DELETE), with the real client and by hand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from config import Settings
from tests import factories
from tests.conftest import served
from tests.graphql_client import GraphQLClient
from tests.identities import JWT_SECRET, as_user, bearer, token
from tests.web.test_metrics import grew, scrape, until_scraped
from tests.web.test_sse import (
    EVENT_STREAM,
    EVENTS,
    Event,
    errors_logged,
    from_now,
    http_url,
    next_events,
    node_client,
    send,
    sse_events,
)
from tests.ws_client import WAIT
from web.app import GraphQLApp, create_app

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


async def until_complete(events: AsyncIterator[Event], operation_id: str) -> list[Event]:
    """The operation's events up to its `complete`."""
    found: list[Event] = []
    async with asyncio.timeout(WAIT):
        async for event in events:
            if event.event is not None and json.loads(event.data)["id"] == operation_id:
                found.append(event)
                if event.event == "complete":
                    return found
    raise AssertionError(f"the stream ended after {found}")


async def test_bad_bodies_are_400_and_nothing_runs(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    url = http_url(secured_server_url)
    alices = bearer(token("alice"))
    bodies: list[str | bytes] = [
        b"{not json",
        json.dumps({"query": EVENTS, "variables": "x", "extensions": {"operationId": "v"}}),
        json.dumps({"query": 5, "extensions": {"operationId": "q"}}),
        json.dumps({"query": EVENTS, "extensions": "x"}),
        json.dumps([{"query": EVENTS, "extensions": {"operationId": "b"}}]),
    ]
    with errors_logged() as errors:
        async with httpx.AsyncClient(timeout=WAIT) as client:
            held = {TOKEN: (await client.put(url, headers={**PREFLIGHT, **alices})).text}
            headers = {**held, **alices, "Content-Type": "application/json"}
            for body in bodies:
                refused = await client.post(url, content=body, headers=headers)
                assert refused.status_code == 400, body
                assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert errors == []


async def test_operations_and_the_stream_end_when_the_credential_expires(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    operation = {
        **await from_now(alice, conversation["id"]),
        "extensions": {"operationId": "op-1"},
    }
    url = http_url(secured_server_url)
    short_lived = {**PREFLIGHT, **bearer(token("alice", expires_in=6))}
    with errors_logged() as errors:
        async with httpx.AsyncClient(timeout=WAIT) as client:
            held = {TOKEN: (await client.put(url, headers=short_lived)).text}
            async with client.stream("GET", url, headers={**EVENT_STREAM, **held}) as stream:
                started = await client.post(url, json=operation, headers={**held, **short_lived})
                assert started.status_code == 202
                await send(alice, conversation["id"], "while valid", sender="alice")
                events = sse_events(stream)
                received = await until_complete(events, "op-1")
                # Then the stream itself ends.
                async with asyncio.timeout(WAIT):
                    rest = [e async for e in events if e.event is not None]
    payloads = [e.json()["payload"] for e in received[:-1]]
    assert payloads[0]["data"]["conversationEvents"]["message"]["content"] == "while valid"
    assert payloads[-1]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert rest == []
    assert errors == []


async def test_each_operation_holds_one_of_the_principals_streams(
    settings: Settings, secured_app: Any, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    operation = {"query": EVENTS, "variables": {"c": conversation["id"]}}
    alices = {**PREFLIGHT, **bearer(token("alice"))}
    # The reservation holds one, each running operation one more.
    limited = create_app(
        replace(
            settings, auto_migrate=False, jwt_secret=JWT_SECRET, max_http_streams_per_principal=3
        )
    )
    async with LifespanManager(limited), served(limited) as served_url:
        url = http_url(served_url)
        async with httpx.AsyncClient(timeout=WAIT) as client:
            held = {**alices, TOKEN: (await client.put(url, headers=alices)).text}

            async def start(operation_id: str) -> httpx.Response:
                body = {**operation, "extensions": {"operationId": operation_id}}
                return await client.post(url, json=body, headers=held)

            async with client.stream("GET", url, headers={**EVENT_STREAM, **held}) as stream:
                assert [(await start(i)).status_code for i in ("a", "b")] == [202, 202]
                refused = await start("c")
                assert refused.status_code == 429
                assert refused.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
                # Nor can another reservation or stream of the same user get past it.
                assert (await client.put(url, headers=alices)).status_code == 429
                await client.delete(url, params={"operationId": "a"}, headers=held)
                await until_complete(sse_events(stream), "a")
                assert (await start("c")).status_code == 202


async def test_operations_are_counted_in_the_metrics(
    server_url: str, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    conversation = await factories.conversation(gql)
    operation = {
        **await from_now(gql, conversation["id"]),
        "query": EVENTS.replace("subscription(", "subscription Follow("),
        "extensions": {"operationId": "op-1"},
    }
    follow = {"transport": "sse", "type": "subscription", "operation": "Follow"}
    url = http_url(server_url)
    before = await scrape(http)
    async with httpx.AsyncClient(timeout=WAIT) as client:
        held = {**PREFLIGHT, TOKEN: (await client.put(url, headers=PREFLIGHT)).text}
        async with client.stream("GET", url, headers={**EVENT_STREAM, **held}) as stream:
            assert (await client.post(url, json=operation, headers=held)).status_code == 202
            await send(gql, conversation["id"], "counted")
            await next_events(sse_events(stream), 1)
            during = await scrape(http)
            assert grew(before, during, "threadline_graphql_requests_total", **follow) == 1
            assert grew(before, during, "threadline_subscriptions_active") == 1
            assert grew(before, during, "threadline_subscription_resumes_total") == 1
    await until_scraped(http, lambda s: grew(before, s, "threadline_subscriptions_active") == 0)


async def test_a_fault_in_an_operation_is_masked_and_ends_it(
    server_url: str, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = await factories.conversation(gql)
    operation = {**await from_now(gql, conversation["id"]), "extensions": {"operationId": "f"}}
    await send(gql, conversation["id"], "replayed")

    async def failing(*_: object) -> None:
        raise RuntimeError("a fault no client input causes")

    # The replayed event fails as it is shaped for the stream, outside the schema's run.
    monkeypatch.setattr(GraphQLApp, "process_result", failing)
    url = http_url(server_url)
    with errors_logged() as errors:
        async with httpx.AsyncClient(timeout=WAIT) as client:
            held = {**PREFLIGHT, TOKEN: (await client.put(url, headers=PREFLIGHT)).text}
            async with client.stream("GET", url, headers={**EVENT_STREAM, **held}) as stream:
                assert (await client.post(url, json=operation, headers=held)).status_code == 202
                failed, complete = await until_complete(sse_events(stream), "f")
    (error,) = failed.json()["payload"]["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "a fault" not in json.dumps(error)
    assert complete.event == "complete"
    assert [r.name for r in errors] == ["threadline.errors"]
