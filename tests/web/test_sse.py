"""Subscriptions over Server-Sent Events (graphql-sse, distinct connections mode) at
/graphql: the real graphql-sse client, event ids that are event cursors, resuming by
Last-Event-ID, heartbeats, and the same authentication, visibility and limits as
WebSocket subscriptions."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from config import Settings
from resolvers.ids import parse_id
from subscriptions.streams import encode_cursor
from tests import factories
from tests.conftest import served
from tests.graphql_client import GraphQLClient
from tests.identities import JWT_SECRET, as_user, bearer, token
from tests.ws_client import WAIT
from web.app import create_app

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
EVENT_STREAM = {"Accept": "text/event-stream"}
EVENTS = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    seq kind ... on MessageEvent { message { content } }
  }
}"""
LAST_CURSOR = "query($c: ID!) { conversation(id: $c) { lastEventCursor } }"


@dataclass(frozen=True)
class Event:
    """One SSE event; a comment (a heartbeat) has no `event`."""

    event: str | None
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


async def sse_events(response: httpx.Response) -> AsyncIterator[Event]:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield Event(None, line[1:])
        elif line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        elif fields:
            yield Event(fields.get("event"), fields.get("data", ""), fields.get("id"))
            fields = {}


@contextmanager
def errors_logged() -> Iterator[list[logging.LogRecord]]:
    """The records at ERROR logged meanwhile, uvicorn's too (its logger does not
    propagate): a traceback, a task's exception never retrieved."""
    records: list[logging.LogRecord] = []

    class Collecting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collecting(logging.ERROR)
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def http_url(server_url: str) -> str:
    return server_url.replace("ws://", "http://", 1)


@asynccontextmanager
async def sse(
    url: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[Event]]]:
    """A subscription's stream: its response (status, headers) and its events."""
    async with (
        httpx.AsyncClient(timeout=WAIT) as client,
        client.stream("POST", url, json=body, headers={**EVENT_STREAM, **(headers or {})}) as r,
    ):
        yield r, sse_events(r)


async def next_events(events: AsyncIterator[Event], count: int) -> list[Event]:
    """The next `count` `next` events (heartbeats skipped)."""
    found: list[Event] = []
    async with asyncio.timeout(WAIT):
        async for event in events:
            if event.event == "next":
                found.append(event)
                if len(found) == count:
                    return found
    raise AssertionError(f"the stream ended after {found}")


async def send(
    gql: GraphQLClient, conversation_id: str, *texts: str, sender: str = "user-1"
) -> None:
    for text in texts:
        await factories.message(gql, conversation_id, content=text, senderId=sender)


async def from_now(gql: GraphQLClient, conversation_id: str) -> dict[str, Any]:
    """The request for the conversation's events from now on, none missed."""
    after = await start_of(gql, conversation_id)
    return {"query": EVENTS, "variables": {"c": conversation_id, "after": after}}


async def start_of(gql: GraphQLClient, conversation_id: str) -> str:
    """The cursor to subscribe after, so that no event sent from now is missed."""
    found = await gql.data(LAST_CURSOR, {"c": conversation_id})
    cursor: str = found["conversation"]["lastEventCursor"]
    return cursor


def contents(events: list[Event]) -> list[str]:
    return [e.json()["data"]["conversationEvents"]["message"]["content"] for e in events]


async def test_events_carry_their_cursor_as_id_and_the_data_asked_for(
    server_url: str, gql: GraphQLClient
) -> None:
    conversation = await factories.conversation(gql)
    after = await start_of(gql, conversation["id"])
    document = EVENTS.replace("seq kind", "seq kind cursor")
    body = {"query": document, "variables": {"c": conversation["id"], "after": after}}
    async with sse(http_url(server_url), body) as (response, events):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await send(gql, conversation["id"], "one", "two")
        received = await next_events(events, 2)
    assert contents(received) == ["one", "two"]
    for event in received:
        payload = event.json()["data"]["conversationEvents"]
        # The id is the event's cursor; the alias that fetched it is not in the data.
        assert event.id == payload["cursor"]
        assert set(payload) == {"seq", "kind", "cursor", "message"}


async def test_a_get_subscribes_too_with_the_csrf_header(
    server_url: str, gql: GraphQLClient
) -> None:
    conversation = await factories.conversation(gql)
    variables = {"c": conversation["id"], "after": await start_of(gql, conversation["id"])}
    params = {"query": EVENTS, "variables": json.dumps(variables)}
    async with httpx.AsyncClient(timeout=WAIT) as client:
        refused = await client.get(http_url(server_url), params=params, headers=EVENT_STREAM)
        assert refused.json()["errors"][0]["extensions"]["code"] == "CSRF_PREVENTED"
        headers = {**EVENT_STREAM, "X-Threadline-CSRF": "1"}
        async with client.stream("GET", http_url(server_url), params=params, headers=headers) as r:
            await send(gql, conversation["id"], "by GET")
            (received,) = await next_events(sse_events(r), 1)
    assert contents([received]) == ["by GET"]
    assert received.id is not None


async def test_last_event_id_resumes_after_a_dropped_connection_without_gap_or_duplicate(
    server_url: str, gql: GraphQLClient
) -> None:
    conversation = await factories.conversation(gql)
    # The client's original request, re-sent unchanged on reconnecting: its `after`
    # (the start) is replaced by Last-Event-ID.
    body = await from_now(gql, conversation["id"])
    async with sse(http_url(server_url), body) as (_, events):
        await send(gql, conversation["id"], "1", "2")
        first = await next_events(events, 2)
    # Dropped; meanwhile more happens.
    await send(gql, conversation["id"], "3", "4")
    last_id = first[-1].id
    assert last_id is not None
    async with sse(http_url(server_url), body, {"Last-Event-ID": last_id}) as (_, events):
        resumed = await next_events(events, 2)
        await send(gql, conversation["id"], "5")
        resumed += await next_events(events, 1)
    assert contents(first + resumed) == ["1", "2", "3", "4", "5"]
    seqs = [e.json()["data"]["conversationEvents"]["seq"] for e in first + resumed]
    assert seqs == list(range(seqs[0], seqs[0] + 5))


async def test_last_event_id_also_resumes_a_literal_after_and_is_checked(
    server_url: str, gql: GraphQLClient
) -> None:
    conversation, other = await factories.conversation(gql), await factories.conversation(gql)
    start = await start_of(gql, conversation["id"])
    await send(gql, conversation["id"], "a", "b")
    literal = EVENTS.replace(", $after: String", "").replace("$after", f'"{start}"')
    body = {"query": literal, "variables": {"c": conversation["id"]}}
    async with sse(http_url(server_url), body) as (_, events):
        first = await next_events(events, 1)
    assert first[0].id is not None
    resumed_with = {"Last-Event-ID": first[0].id}
    async with sse(http_url(server_url), body, resumed_with) as (_, events):
        assert contents(await next_events(events, 1)) == ["b"]
    # A cursor of another conversation is refused as `after` would be.
    foreign = {"Last-Event-ID": await start_of(gql, other["id"])}
    async with sse(http_url(server_url), body, foreign) as (_, events):
        (refused,) = await next_events(events, 1)
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_graphql_sse_client_receives_live_events(
    server_url: str, gql: GraphQLClient
) -> None:
    conversation = await factories.conversation(gql)
    request = await from_now(gql, conversation["id"])
    async with node_client("sse_subscribe.mjs", http_url(server_url), request, {}, 3) as lines:
        await send(gql, conversation["id"], "x", "y", "z")
        results = [await lines() for _ in range(4)]
    assert [r["data"]["conversationEvents"]["message"]["content"] for r in results[:3]] == [
        "x",
        "y",
        "z",
    ]
    assert results[3] == {"complete": True}


@asynccontextmanager
async def node_client(
    script: str,
    url: str,
    request: Mapping[str, Any],
    headers: Mapping[str, str],
    count: int,
    *options: str,
) -> AsyncIterator[Any]:
    """A real client in Node (tests/clients): a function reading its next JSON line,
    once it has sent its request."""
    process = await asyncio.create_subprocess_exec(
        "node",
        script,
        url,
        json.dumps(request),
        json.dumps(headers),
        str(count),
        *options,
        cwd=CLIENTS,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    stdout = process.stdout

    async def line() -> Any:
        raw = await asyncio.wait_for(stdout.readline(), WAIT)
        assert raw, "the client exited"
        return json.loads(raw)

    try:
        assert await line() == {"ready": True}
        yield line
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_heartbeat_comments_keep_an_idle_stream_alive(
    settings: Settings, app: Any, gql: GraphQLClient
) -> None:
    conversation = await factories.conversation(gql)
    body = {"query": EVENTS, "variables": {"c": conversation["id"]}}
    quick = create_app(replace(settings, auto_migrate=False, sse_heartbeat_seconds=0.05))
    async with LifespanManager(quick), served(quick) as url, sse(http_url(url), body) as (_, ev):
        async with asyncio.timeout(WAIT):
            heartbeats = [e async for e in _first(ev, 3)]
    assert heartbeats == [Event(None, "")] * 3


async def _first(events: AsyncIterator[Event], count: int) -> AsyncIterator[Event]:
    for _ in range(count):
        yield await anext(events)


async def test_plain_http_without_a_stream_still_refuses_a_subscription(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    conversation = await factories.conversation(gql)
    body = {"query": EVENTS, "variables": {"c": conversation["id"]}}
    response = await http.post("/graphql", json=body)
    assert response.status_code == 400
    assert "text/event-stream" in response.json()["errors"][0]["message"]


async def test_documents_are_held_to_the_limits(limited_app: Any, http: httpx.AsyncClient) -> None:
    # tests/web/conftest.py's LIMITS: two aliases, depth 3.
    too_many = "subscription { conversationsActivity { a: seq b: seq c: seq } }"
    async with served(limited_app) as url, sse(http_url(url), {"query": too_many}) as (_, events):
        (refused,) = await next_events(events, 1)
    assert refused.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


# The secured server: the same credentials as any HTTP request, and the same visibility.


async def test_no_credential_is_401_and_a_strangers_conversation_is_not_found(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    await send(alice, conversation["id"], "secret words", sender="alice")
    body = {"query": EVENTS, "variables": {"c": conversation["id"], "after": None}}
    url = http_url(secured_server_url)
    async with sse(url, body) as (response, _):
        assert response.status_code == 401
        refusal = json.loads(await response.aread())
        assert refusal["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Its own replay, or the shared live stream: both check first.
    start = encode_cursor(parse_id(conversation["id"], "Conversation"), 0)
    replaying = {**body, "variables": {"c": conversation["id"], "after": start}}
    for request in (body, replaying):
        async with sse(url, request, bearer(token("carol"))) as (response, events):
            assert response.status_code == 200
            (refused,) = await next_events(events, 1)
            rest = [e async for e in events]
        assert refused.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert refused.json().get("data") is None
        assert refused.id is None
        assert [e.event for e in rest] == ["complete"]
        assert "secret words" not in refused.data


async def test_a_participant_removed_while_subscribed_is_dropped(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(
        alice,
        owner={"participantId": "alice"},
        participants=[{"participantId": "bob", "participantType": "USER"}],
    )
    after = await start_of(alice, conversation["id"])
    body = {"query": EVENTS, "variables": {"c": conversation["id"], "after": after}}
    remove = """mutation($c: ID!) {
      removeParticipant(conversationId: $c, participantId: "bob") { active } }"""
    url = http_url(secured_server_url)
    async with sse(url, body, bearer(token("bob"))) as (_, events):
        await send(alice, conversation["id"], "before", sender="alice")
        assert contents(await next_events(events, 1)) == ["before"]
        await alice.data(remove, {"c": conversation["id"]})
        await send(alice, conversation["id"], "after bob left", sender="alice")
        async with asyncio.timeout(WAIT):
            rest = [e async for e in events]
    nexts = [e.json() for e in rest if e.event == "next"]
    # Bob may hear of his own removal, then the stream ends: nothing said after it.
    assert nexts[-1]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert all("after bob left" not in json.dumps(n) for n in nexts)
    assert rest[-1].event == "complete"


async def test_streams_per_principal_are_limited_and_released(
    settings: Settings, secured_app: Any, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    body = {"query": EVENTS, "variables": {"c": conversation["id"]}}
    alices = bearer(token("alice"))
    limited = create_app(
        replace(
            settings, auto_migrate=False, jwt_secret=JWT_SECRET, max_http_streams_per_principal=1
        )
    )
    async with LifespanManager(limited), served(limited) as served_url:
        url = http_url(served_url)
        async with sse(url, body, alices) as (first, _):
            assert first.status_code == 200
            async with sse(url, body, alices) as (second, _):
                assert second.status_code == 429
                refusal = json.loads(await second.aread())
                assert refusal["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
            # Another user has slots of their own.
            carols = bearer(token("carol"))
            async with sse(
                url, {**body, "query": "subscription { conversationsActivity { kind } }"}, carols
            ) as (other, _):
                assert other.status_code == 200
        # The first stream closed: its slot is free again (released as its task ends).
        async with asyncio.timeout(WAIT):
            while True:
                async with sse(url, body, alices) as (again, _):
                    if again.status_code == 200:
                        break
                await asyncio.sleep(0.05)


async def test_a_stream_ends_when_its_credential_expires(
    secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(alice, owner={"participantId": "alice"})
    body = await from_now(alice, conversation["id"])
    short_lived = bearer(token("alice", expires_in=6))
    with errors_logged() as errors:
        async with sse(http_url(secured_server_url), body, short_lived) as (response, events):
            assert response.status_code == 200
            await send(alice, conversation["id"], "while valid", sender="alice")
            assert contents(await next_events(events, 1)) == ["while valid"]
            # The stream ends by itself: nothing after the expiry but its notice.
            async with asyncio.timeout(WAIT):
                rest = [e async for e in events if e.event is not None]
    assert [e.event for e in rest] == ["next", "complete"]
    assert rest[0].json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert rest[0].id is None
    assert errors == []


async def test_the_cursor_alias_is_reserved(server_url: str, gql: GraphQLClient) -> None:
    conversation = await factories.conversation(gql)
    variables = {"c": conversation["id"]}
    # On the resumable root, deeper, in a fragment, on a subscription never rewritten.
    documents = [
        EVENTS.replace("seq kind", "threadlineEventCursor: cursor kind"),
        EVENTS.replace("message { content }", "message { threadlineEventCursor: content }"),
        EVENTS.replace("seq kind", "...F")
        + " fragment F on ConversationEvent { threadlineEventCursor: kind }",
        "subscription { conversationsActivity { threadlineEventCursor: kind } }",
    ]
    for document in documents:
        async with sse(http_url(server_url), {"query": document, "variables": variables}) as (
            response,
            _,
        ):
            assert response.status_code == 400
            (error,) = json.loads(await response.aread())["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "threadlineEventCursor" in error["message"]
