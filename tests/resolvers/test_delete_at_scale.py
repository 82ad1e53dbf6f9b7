"""deleteConversation finishes however big the conversation (issue 22): no statement of
it grows with the conversation, so none reaches the statement timeout, and it is still
one transaction whose end its subscribers hear."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

from asgi_lifespan import LifespanManager
from sqlalchemy import Connection, Table, event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_
from starlette.applications import Starlette

import models
from config import Settings
from models.base import utcnow
from models.enums import EventKind
from resolvers.db import is_sqlite
from tests import factories
from tests.conftest import served
from tests.graphql_client import GraphQLClient
from tests.lifecycle_graph import raw
from tests.web.conftest import client_of
from tests.ws_client import GraphQLWebSocket, connect
from web.app import create_app

DELETE = "mutation($id: ID!) { deleteConversation(id: $id) { deletedId } }"
EVENTS = "subscription($c: ID!) { conversationEvents(conversationId: $c) { kind seq } }"
# What each message and each span adds to the conversation's usage.
TOKENS, COST = 5, Decimal("0.001")


def table(model: Any) -> Table:
    found: Table = model.__table__
    return found


CONVERSATIONS, MESSAGES = table(models.Conversation), table(models.Message)
SPANS, EVENTS_TABLE = table(models.Span), table(models.Event)


def message_rows(conversation_id: uuid.UUID, count: int) -> list[dict[str, Any]]:
    """Messages numbered 1..count, each replying to the one before (a chain deeper than
    SQLite's 1000 levels of cascade), each with usage of its own."""
    now, ids = utcnow(), [uuid.uuid4() for _ in range(count)]
    return [
        {
            "id": message_id,
            "conversation_id": conversation_id,
            "seq": seq,
            "parent_message_id": ids[seq - 2] if seq > 1 else None,
            "sender_id": "agent-1",
            "sender_type": "AGENT",
            "role": "ASSISTANT",
            "parts": [],
            "model": "model-a",
            "total_tokens": TOKENS,
            "cost": COST,
            "attachments": [],
            "metadata": {},
            "created_at": now,
        }
        for seq, message_id in enumerate(ids, start=1)
    ]


def span_rows(trace_id: uuid.UUID, count: int) -> list[dict[str, Any]]:
    """Model calls, each a child of the one before, each with usage."""
    now, ids = utcnow(), [uuid.uuid4() for _ in range(count)]
    return [
        {
            "id": span_id,
            "trace_id": trace_id,
            "parent_span_id": ids[n - 1] if n else None,
            "kind": "LLM",
            "name": "call",
            "model": "model-a",
            "started_at": now,
            "duration_ms": 10.0,
            "total_tokens": TOKENS,
            "cost": COST,
            "inputs": {},
            "outputs": {},
            "attributes": {},
        }
        for n, span_id in enumerate(ids)
    ]


def event_rows(
    conversation_id: uuid.UUID,
    first_seq: int,
    messages: list[dict[str, Any]],
    spans: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """An event about each message (MESSAGE_CREATED) and each span (SPAN_STARTED, with
    its trace), numbered from `first_seq`."""
    about: list[dict[str, Any]] = [
        {"kind": EventKind.MESSAGE_CREATED, "message_id": row["id"], "span_id": None}
        for row in messages
    ] + [
        {"kind": EventKind.SPAN_STARTED, "message_id": None, "span_id": row["id"]} for row in spans
    ]
    trace_id = spans[0]["trace_id"] if spans else None
    return [
        {
            "conversation_id": conversation_id,
            "seq": seq,
            "trace_id": None if refs["span_id"] is None else trace_id,
            "data": {},
            **refs,
        }
        for seq, refs in enumerate(about, start=first_seq)
    ]


async def big_conversation(gql: GraphQLClient, app: Starlette, size: int) -> tuple[str, str, int]:
    """A conversation of `size` messages and a trace of `size` spans, each with an event
    about it, as their mutations would leave them (written in bulk: seconds, not
    minutes). Returns the conversation's id, the trace's, and its last event number."""
    conversation = (await factories.conversation(gql, title="big"))["id"]
    trace = (await factories.trace(gql, conversation))["id"]
    conversation_id = raw(conversation)
    messages, spans = message_rows(conversation_id, size), span_rows(raw(trace), size)
    this_conversation = CONVERSATIONS.c.id == conversation_id
    async with app.state.engine.begin() as connection:
        last_seq = await connection.scalar(
            select(CONVERSATIONS.c.last_event_seq).where(this_conversation)
        )
        events = event_rows(conversation_id, last_seq + 1, messages, spans)
        await connection.execute(insert(MESSAGES), messages)
        await connection.execute(insert(SPANS), spans)
        await connection.execute(insert(EVENTS_TABLE), events)
        last_seq += len(events)
        await connection.execute(
            update(CONVERSATIONS)
            .where(this_conversation)
            .values(last_event_seq=last_seq, message_count=size)
        )
    return conversation, trace, int(last_seq)


async def left_of(app: Starlette, conversation_id: uuid.UUID, trace_id: uuid.UUID) -> int:
    """Rows still holding the conversation's or its trace's id."""
    owned = [
        (MESSAGES.c.conversation_id, conversation_id),
        (EVENTS_TABLE.c.conversation_id, conversation_id),
        (table(models.Trace).c.conversation_id, conversation_id),
        (SPANS.c.trace_id, trace_id),
        (CONVERSATIONS.c.id, conversation_id),
    ]
    found = 0
    async with app.state.engine.connect() as connection:
        for key, value in owned:
            found += await connection.scalar(select(func.count()).where(key == value))
    return found


# Messages, and spans of one trace: deleting them in one statement (the cascade from
# the conversation) takes about 1.7 s on PostgreSQL, a statement of the chunked
# deletion about 0.17 s idle.
SIZE = 6000
POSTGRES_TIMEOUT_MS = 600
# On SQLite a statement's work is counted, not timed: under load its wall time is not
# its own (the statement clock waits for the GIL at every check), and a 500 ms limit
# over chunks of under 60 ms failed CI runs of fresh clones. SQLite calls the counter
# every STEPS instructions. Here the chunked deletion's biggest statement runs 689
# thousand of them; the one-statement cascade fails on the chains of parents (too many
# levels of trigger recursion), and without them runs 12.2 million.
STEPS = 1000
MOST_STEPS = 2000
WORK = "statement_work"


class StatementWork:
    """The most SQLite instructions, in STEPS, that one statement of an engine ran."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.most = 0
        sync_engine = engine.sync_engine
        event.listen(sync_engine, "checkout", self._count)
        event.listen(sync_engine, "before_cursor_execute", self._start)
        event.listen(sync_engine, "after_cursor_execute", self._stop)

    @staticmethod
    def _count(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        steps = record.info.setdefault(WORK, [0])

        def step() -> bool:
            steps[0] += 1
            return False  # never interrupt

        # aiosqlite runs SQLite on a thread of its own: the handler is installed there.
        await_(record.driver_connection.set_progress_handler(step, STEPS))

    @staticmethod
    def _start(connection: Connection, *_args: Any) -> None:
        connection.info[WORK][0] = 0

    def _stop(self, connection: Connection, *_args: Any) -> None:
        self.most = max(self.most, connection.info[WORK][0])


@asynccontextmanager
async def bounded(
    settings: Settings,
) -> AsyncIterator[tuple[GraphQLClient, GraphQLWebSocket, StatementWork | None]]:
    """A GraphQL client and a socket of a second app, served, on the test database:
    on PostgreSQL its statements each run for at most POSTGRES_TIMEOUT_MS; on SQLite
    their work is counted."""
    sqlite = is_sqlite(settings.database_url)
    timeout_ms = 0 if sqlite else POSTGRES_TIMEOUT_MS
    application = create_app(replace(settings, auto_migrate=False, statement_timeout_ms=timeout_ms))
    async with LifespanManager(application):
        work = StatementWork(application.state.engine) if sqlite else None
        async with (
            client_of(application) as http,
            served(application) as url,
            connect(url) as socket,
        ):
            yield GraphQLClient(http), socket, work


async def rolled_up_tokens(app: Starlette, conversation_id: uuid.UUID) -> tuple[int, int]:
    """Tokens the usage roll-ups hold for the conversation, and per day for everybody."""
    rollups, days = table(models.UsageRollup), table(models.UsageDay)
    async with app.state.engine.connect() as connection:
        by_conversation = await connection.scalar(
            select(func.coalesce(func.sum(rollups.c.total_tokens), 0)).where(
                rollups.c.conversation_id == conversation_id
            )
        )
        everybody = await connection.scalar(select(func.coalesce(func.sum(days.c.total_tokens), 0)))
    return int(by_conversation), int(everybody)


async def test_a_big_conversation_is_deleted_within_the_statement_timeout(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    conversation, trace, last_seq = await big_conversation(gql, app, SIZE)
    conversation_id, trace_id = raw(conversation), raw(trace)
    counted = 2 * SIZE * TOKENS
    assert await rolled_up_tokens(app, conversation_id) == (counted, counted)
    async with bounded(settings) as (limited, socket, work):
        op = await socket.subscribe(EVENTS, {"c": conversation})
        await asyncio.sleep(0.2)  # let the subscription open before writing
        deleted = await limited.data(DELETE, {"id": conversation})
        assert deleted == {"deleteConversation": {"deletedId": conversation}}
        farewell = await socket.next(op)
        assert farewell == {
            "conversationEvents": {"kind": "CONVERSATION_DELETED", "seq": last_seq + 1}
        }
        assert (await socket.message(op))["type"] == "complete"
    assert work is None or work.most <= MOST_STEPS
    assert await left_of(app, conversation_id, trace_id) == 0
    # What the roll-ups counted in, the deletion counted out.
    assert await rolled_up_tokens(app, conversation_id) == (0, 0)
