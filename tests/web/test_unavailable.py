"""A database that cannot serve is an answer to retry, not a bug: UNAVAILABLE (HTTP 503
with Retry-After, an error on a WebSocket), a running subscription told where to resume,
and recovery without a restart, on the same sockets.

Real faults only: a PostgreSQL database made read-only, one reached through a TCP hop
the test cuts (open connections reset, new ones refused, as when its host goes away),
nothing listening where the database should be, SQLite files on a read-only bind mount
and on a full tmpfs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import websockets
from asgi_lifespan import LifespanManager
from graphql import GraphQLError, OperationType
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from strawberry.types import ExecutionResult

from config import Settings
from resolvers.db import is_sqlite
from resolvers.ids import from_global_id, to_global_id
from subscriptions.streams import encode_cursor
from tests.conftest import served
from tests.databases import admin_connection, fresh_database
from tests.identities import JWT_SECRET
from tests.web.conftest import assert_unavailable as unavailable
from tests.web.conftest import client_of
from tests.ws_client import PROTOCOL, GraphQLWebSocket, connect
from web.app import create_app, retry_later

QUERY = "{ conversations(first: 5) { totalCount } }"
CREATE = """mutation($input: CreateConversationInput!) {
  createConversation(input: $input) { id } }"""
SEND = """mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }"""
EVENTS = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) { seq cursor kind } }"""
ACTIVITY = "subscription { conversationsActivity { kind conversation { id } } }"
OTLP_SPAN = {
    "resourceSpans": [
        {
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "name": "llm",
                            "startTimeUnixNano": "1700000000000000000",
                            "endTimeUnixNano": "1700000001000000000",
                        }
                    ]
                }
            ]
        }
    ]
}


def create(conversation_id: uuid.UUID) -> dict[str, Any]:
    owner = {"participantId": "user-1"}
    # Titled: an untitled one takes its first prompt's line, an event the counts here omit.
    given = {"id": str(conversation_id), "owner": owner, "title": "outage"}
    return {"query": CREATE, "variables": {"input": given}}


@contextlib.asynccontextmanager
async def app_on(settings: Settings, url: str, **changes: Any) -> AsyncIterator[Starlette]:
    """An app on the database at `url`, its lifespan running."""
    application = create_app(replace(settings, database_url=url, **changes))
    async with LifespanManager(application):
        yield application


async def counts(url: str) -> tuple[int, int]:
    """(conversations, events) in the PostgreSQL database at `url`, read directly."""
    admin = await admin_connection(url)
    try:
        row = await admin.fetchrow(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM events)"
        )
        return row[0], row[1]
    finally:
        await admin.close()


@pytest.mark.postgres_only
async def test_a_read_only_postgresql_refuses_writes_until_it_is_writable(
    settings: Settings,
) -> None:
    async with (
        fresh_database(settings.database_url, "threadline_outage") as url,
        app_on(settings, url, broadcast_url="memory://") as app,
        client_of(app) as client,
    ):
        name = make_url(url).database
        admin = await admin_connection(settings.database_url)
        conversation_id = uuid.uuid4()
        try:
            await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            # Connections opened from now on are read-only, as on a hot standby.
            await app.state.engine.dispose()
            read = await client.post("/graphql", json={"query": QUERY})
            assert read.status_code == 200, read.text
            refused = await client.post("/graphql", json=create(conversation_id))
            unavailable(refused)
            assert refused.json()["data"] is None
            assert await counts(url) == (0, 0)
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
            await admin.close()
        # Writable again: the same request, retried, writes once however often it is sent.
        # The read-only connection it failed on was discarded, not pooled again.
        for _ in range(2):
            written = await client.post("/graphql", json=create(conversation_id))
            assert written.status_code == 200, written.text
            created = written.json()["data"]["createConversation"]
            assert created == {"id": to_global_id("Conversation", conversation_id)}
        assert await counts(url) == (1, 1)


def nothing_listening() -> int:
    """A local port with nothing listening on it."""
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def unreachable_url(database_url: str, tmp_path: Path) -> str:
    """Where the database should be and is not: a port nobody listens on (PostgreSQL), a
    file in a directory that does not exist (SQLite)."""
    if is_sqlite(database_url):
        return f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'threadline.db'}"
    return make_url(database_url).set(port=nothing_listening()).render_as_string(False)


async def test_an_unreachable_database_is_a_503_to_retry(
    settings: Settings, unreachable_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        app_on(settings, unreachable_url, auto_migrate=False, broadcast_url="memory://") as app,
        client_of(app) as client,
    ):
        with caplog.at_level(logging.WARNING):
            error = unavailable(await client.post("/graphql", json={"query": QUERY}))
        unavailable(await client.post("/graphql", json=create(uuid.uuid4())))
        otlp = await client.post("/v1/traces", json=OTLP_SPAN)
    # An outage is a warning naming the request, not a traceback.
    request_id = error["extensions"]["requestId"]
    assert not [r for r in caplog.records if r.name == "strawberry.execution"]
    [logged] = [r for r in caplog.records if request_id in r.getMessage()]
    assert (logged.name, logged.levelname, logged.exc_info) == (
        "threadline.errors",
        "WARNING",
        None,
    )
    assert (otlp.status_code, otlp.headers["Retry-After"]) == (503, "1")
    assert otlp.json() == {
        "code": 14,
        "message": "UNAVAILABLE: the database is unavailable right now; retry in a moment",
    }


async def test_an_api_key_that_cannot_be_checked_is_a_503_not_a_refusal(
    settings: Settings, unreachable_url: str
) -> None:
    """API keys are looked up in the database: over HTTP a 503, and a WebSocket's
    connection_init closes the socket with 1013 (try again later), not 4403."""
    changes = {"auto_migrate": False, "broadcast_url": "memory://", "jwt_secret": JWT_SECRET}
    async with app_on(settings, unreachable_url, **changes) as app:
        async with client_of(app) as client:
            key = {"Authorization": "Bearer tl_" + "x" * 43}
            unavailable(await client.post("/graphql", json={"query": QUERY}, headers=key))
        async with (
            served(app) as url,
            websockets.connect(url, subprotocols=[PROTOCOL]) as raw,
        ):
            init = {"type": "connection_init", "payload": {"apiKey": "tl_" + "x" * 43}}
            await raw.send(json.dumps(init))
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await asyncio.wait_for(raw.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013


class Cable:
    """A TCP hop between an app and PostgreSQL. Cut, its open connections are reset and
    new ones refused, as when the database's host goes away; mended, it listens again on
    the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.WriteTransport] = set()

    async def mend(self) -> None:
        self.server = await asyncio.start_server(self._carry, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for transport in self.transports:
            transport.abort()
        self.transports.clear()

    @classmethod
    @contextlib.asynccontextmanager
    async def to(cls, url: str) -> AsyncIterator[Cable]:
        """A cable to the server of `url`, mended (and cut once done)."""
        parsed = make_url(url)
        cable = cls(parsed.host or "127.0.0.1", parsed.port or 5432)
        await cable.mend()
        try:
            yield cable
        finally:
            cable.cut()

    def url(self, url: str) -> str:
        """`url`, leading through the cable."""
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(False)

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.transports |= {writer.transport, up_writer.transport}
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        writer.transport.abort()


async def ends_with(ws: GraphQLWebSocket, op: str) -> dict[str, Any]:
    """The error a subscription ended with (its last result), once it completed."""
    message = await ws.message(op)
    assert message["type"] == "next", message
    [error] = message["payload"]["errors"]
    assert (await ws.message(op))["type"] == "complete"
    return dict(error)


async def seqs(ws: GraphQLWebSocket, op: str, count: int) -> list[int]:
    return [e["conversationEvents"]["seq"] for e in await ws.collect(op, count)]


@pytest.mark.postgres_only
async def test_a_subscription_cut_off_by_an_outage_resumes_on_the_same_socket(
    settings: Settings,
) -> None:
    """Writes go on through a second app on the same database while the subscribers'
    app loses its database: its subscribers are told where to resume, a subscribe during
    the outage fails without poisoning the socket, and afterwards the same socket resumes
    each of them with exactly the events it missed."""
    async with (
        fresh_database(settings.database_url, "threadline_outage") as url,
        Cable.to(url) as cable,
        # Notices travel beside the database, not through the cable.
        app_on(settings, url, broadcast_url=url) as writer_app,
        app_on(settings, cable.url(url), broadcast_url=url, auto_migrate=False) as reader_app,
        client_of(writer_app) as writer,
        served(reader_app) as server_url,
        connect(server_url) as ws,
    ):
        created = await writer.post("/graphql", json=create(uuid.uuid4()))
        conversation = created.json()["data"]["createConversation"]["id"]
        raw_id = from_global_id(conversation)[1]

        async def send(count: int) -> None:
            for n in range(count):
                body = {"conversationId": conversation, "senderId": "user-1", "content": f"{n}"}
                sent = await writer.post(
                    "/graphql", json={"query": SEND, "variables": {"input": body}}
                )
                assert (sent.status_code, sent.json().get("errors")) == (200, None), sent.text

        def subscribe(after: str | None) -> Any:
            return ws.subscribe(EVENTS, {"c": conversation, "after": after})

        # One replays the log from its start, one follows from now (a shared stream), and
        # a conversation list stays current.
        replaying = await subscribe(encode_cursor(raw_id, 0))
        live = await subscribe(None)
        listing = await ws.subscribe(ACTIVITY)
        replayed = await seqs(ws, replaying, 1)
        await asyncio.sleep(0.3)  # the live one opens
        await send(2)
        replayed += await seqs(ws, replaying, 2)
        followed = await seqs(ws, live, 2)
        assert len(await ws.collect(listing, 2)) == 2

        cable.cut()
        await send(3)  # which the subscribers' app cannot read
        cursors = []
        for op in (replaying, live):
            error = await ends_with(ws, op)
            cursors.append(error["extensions"].pop("cursor"))
            assert error["extensions"] == {"code": "RESUME_REQUIRED", "retryAfter": 1}
        assert cursors == [encode_cursor(raw_id, 3)] * 2
        # A list has no cursor: it is refetched.
        assert (await ends_with(ws, listing))["extensions"]["code"] == "RESUME_REQUIRED"
        # Subscribing meanwhile (the same conversation, on the same socket) fails, to retry.
        for after in (cursors[0], None):
            failed = await ends_with(ws, await subscribe(after))
            assert failed["extensions"]["code"] == "UNAVAILABLE"

        await cable.mend()
        replaying, live = [await subscribe(cursor) for cursor in cursors]
        replayed += await seqs(ws, replaying, 3)
        followed += await seqs(ws, live, 3)
        joined = await subscribe(None)
        listing = await ws.subscribe(ACTIVITY)
        await asyncio.sleep(0.3)
        await send(1)
        replayed += await seqs(ws, replaying, 1)
        followed += await seqs(ws, live, 1)
        assert await seqs(ws, joined, 1) == [7]
        listed = (await ws.next(listing))["conversationsActivity"]
        assert listed == {"kind": "MESSAGE_CREATED", "conversation": {"id": conversation}}
        for op in (replaying, live, joined, listing):
            await ws.nothing_more(op)

        admin = await admin_connection(url)
        try:
            rows = await admin.fetch(
                "SELECT seq FROM events WHERE conversation_id = $1 ORDER BY seq", raw_id
            )
        finally:
            await admin.close()
    logged = [row["seq"] for row in rows]
    # Every event of the log exactly once, in order: the replaying subscriber all 7, the
    # live one all but the conversation's creation, which came before it subscribed.
    assert logged == list(range(1, 8))
    assert (replayed, followed) == (logged, logged[1:])


def unavailable_at(*path: str | int) -> GraphQLError:
    return GraphQLError("unavailable", path=list(path), extensions={"code": "UNAVAILABLE"})


@pytest.mark.parametrize(
    ("operation", "errors", "commits", "retry"),
    [
        (OperationType.QUERY, [unavailable_at("conversations")], 0, True),
        # The mutation's field failed inside its transaction, which rolled back.
        (OperationType.MUTATION, [unavailable_at("sendMessage")], 0, True),
        # Committed, then its payload could not be read: a repeat would write again.
        (OperationType.MUTATION, [unavailable_at("sendMessage", "conversation", "id")], 1, False),
        # `a` committed, then `b` failed: a non-null `b` nulls all of `data`, `a` too.
        (OperationType.MUTATION, [unavailable_at("b")], 1, False),
        (OperationType.MUTATION, [GraphQLError("no", extensions={"code": "CONFLICT"})], 0, False),
    ],
    ids=["query", "rolled-back", "payload-after-commit", "sibling-committed", "not-unavailable"],
)
def test_a_503_asks_for_a_repeat_only_where_nothing_was_written(
    operation: OperationType, errors: list[GraphQLError], commits: int, retry: bool
) -> None:
    assert retry_later(ExecutionResult(data=None, errors=errors), operation, commits) is retry
