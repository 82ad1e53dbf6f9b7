"""Events committed and never announced (their writer died in between) still reach
subscribers: the hub re-checks the log of the conversations it follows (LIVE_RECHECK_SECONDS,
0.5 s in these tests' app).

Here the writes go through a context without a publisher: committed, never announced,
as a writer killed right after its commit leaves them."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from broadcaster import Broadcast
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette

import models
from models import Event
from resolvers.context import Context
from resolvers.db import Database, RowSessionFactory
from resolvers.events import LoadedEvent, latest_seq
from resolvers.ids import parse_id
from resolvers.writes import lifecycle, messages
from resolvers.writes.commands import SendMessage
from subscriptions.channels import Notice, conversation_channel
from subscriptions.hub import EventHub, Feed, Signal
from subscriptions.streams import encode_cursor
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.polling import until
from tests.ws_client import GraphQLWebSocket

EVENTS = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    seq kind ... on MessageEvent { message { content } }
  }
}"""
DELAY = 2.0  # the stated bound: an unannounced event arrives within this after its commit
UNANNOUNCED = 5
LATEST_SEQS = "SELECT conversations.id, conversations.last_event_seq"


def silent(app: Starlette) -> Context:
    """A writer whose commits are never announced."""
    return Context.create(app.state.database, app.state.settings, bus=None)


async def write_unannounced(app: Starlette, conversation: str, count: int) -> float:
    """`count` messages committed and never announced; the time of the last commit."""
    for n in range(count):
        lost = SendMessage(
            conversation_id=raw(conversation), sender_id="user-1", content=f"lost {n}"
        )
        await messages.send_message(silent(app), lost)
    return time.monotonic()


async def logged(app: Starlette, conversation: str, after: int) -> list[tuple[int, str]]:
    """The conversation's events in the database's log after `after`: (seq, kind)."""
    async with app.state.database.row_sessions() as session:
        rows = await session.execute(
            select(col(Event.seq), col(Event.kind))
            .where(
                col(Event.conversation_id) == raw(conversation),
                col(Event.seq) > after,
            )
            .order_by(col(Event.seq))
        )
    return [(seq, str(kind)) for seq, kind in rows]


async def received(ws: GraphQLWebSocket, op: str, count: int) -> list[tuple[int, str]]:
    events = [e["conversationEvents"] for e in await ws.collect(op, count)]
    return [(e["seq"], e["kind"]) for e in events]


async def error_of(ws: GraphQLWebSocket, op: str, wait: float) -> dict[str, Any]:
    """The error that ends the subscription within `wait`, after any results before it."""
    deadline = time.monotonic() + wait
    while True:
        message = await ws.message(op, max(deadline - time.monotonic(), 0.01))
        errors = message["payload"].get("errors") if message["type"] == "next" else None
        if errors:
            error: dict[str, Any] = errors[0]
            return error
        assert message["type"] == "next", message


async def until_heard(
    gql: GraphQLClient, conv: str, ws: GraphQLWebSocket, op: str
) -> tuple[int, dict[str, Any]]:
    """Announce messages until a subscription from now hears one (its stream follows the
    live feed): how many were sent, and what it heard."""
    for sent in range(1, 51):
        await factories.message(gql, conv, content=f"warm-up {sent}")
        try:
            return sent, await ws.next(op, wait=0.2)
        except TimeoutError:
            continue
    raise AssertionError("the subscription never went live")


async def test_unannounced_events_reach_every_subscriber_once_and_in_order(
    app: Starlette, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv = (await factories.conversation(gql))["id"]
    replay = await ws.subscribe(EVENTS, {"c": conv, "after": encode_cursor(raw(conv), 0)})
    assert await received(ws, replay, 1) == [(1, "CONVERSATION_CREATED")]
    live = await ws.subscribe(EVENTS, {"c": conv})
    warm_up, first = await until_heard(gql, conv, ws, live)
    heard = await logged(app, conv, after=1)
    assert len(heard) == warm_up
    # The live subscriber heard one of the warm-up messages, and hears the rest in order.
    seq = first["conversationEvents"]["seq"]
    assert await received(ws, live, heard[-1][0] - seq) == heard[seq - 1 :]
    assert await received(ws, replay, warm_up) == heard

    committed = await write_unannounced(app, conv, UNANNOUNCED)
    log = await logged(app, conv, after=heard[-1][0])
    assert len(log) == UNANNOUNCED
    got = [await received(ws, op, UNANNOUNCED) for op in (live, replay)]
    delay = time.monotonic() - committed
    assert got == [log, log]
    assert delay < DELAY, f"the last unannounced event arrived {delay:.2f}s after its commit"
    for op in (live, replay):
        await ws.nothing_more(op, wait=1.2)  # two more checks: nothing is read twice


async def test_a_conversation_deleted_unannounced_ends_its_streams(
    app: Starlette, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv = (await factories.conversation(gql))["id"]
    op = await ws.subscribe(EVENTS, {"c": conv, "after": encode_cursor(raw(conv), 0)})
    assert await received(ws, op, 1) == [(1, "CONVERSATION_CREATED")]
    await lifecycle.delete_conversation(silent(app), raw(conv))
    error = await error_of(ws, op, DELAY)
    assert error["extensions"]["code"] == "FORBIDDEN", error
    assert (await ws.message(op))["type"] == "complete"


async def test_no_query_while_no_conversation_is_followed(
    app: Starlette, gql: GraphQLClient, ws: GraphQLWebSocket, sql: StatementCounter
) -> None:
    conv = (await factories.conversation(gql))["id"]
    sql.reset()
    await asyncio.sleep(4 * app.state.bus.hub.recheck_seconds)
    assert sql.statements == []
    op = await ws.subscribe(EVENTS, {"c": conv, "after": encode_cursor(raw(conv), 0)})
    assert await received(ws, op, 1) == [(1, "CONVERSATION_CREATED")]
    # The stream's own read of the log's end, then the hub's checks.
    await until(lambda: sum(s.startswith(LATEST_SEQS) for s in sql.statements) >= 3)


# The hub itself, on a broadcast of its own: what a check decides.


@asynccontextmanager
async def hub_of(sessions: RowSessionFactory, recheck_seconds: float) -> AsyncIterator[EventHub]:
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    hub = EventHub(broadcast, sessions, feed_size=100, recheck_seconds=recheck_seconds)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
        await broadcast.disconnect()


@asynccontextmanager
async def following(hub: EventHub, sessions: RowSessionFactory, conv: str) -> AsyncIterator[Feed]:
    """A feed of the conversation, caught up with its log as a stream is."""
    async with hub.listen_conversation(raw(conv)) as feed:
        feed.caught_up_to(await latest_seq(sessions, raw(conv)))
        yield feed


async def next_item(feed: Feed, wait: float) -> object:
    try:
        return await asyncio.wait_for(feed.get(), wait)
    except TimeoutError:
        return None


@pytest.mark.parametrize("recheck_seconds", [0.1, 0])
async def test_a_lost_announcement_makes_feeds_reread_unless_rechecks_are_off(
    app: Starlette, gql: GraphQLClient, recheck_seconds: float
) -> None:
    sessions = app.state.database.row_sessions
    conv = (await factories.conversation(gql))["id"]
    async with hub_of(sessions, recheck_seconds) as hub, following(hub, sessions, conv) as feed:
        await write_unannounced(app, conv, 1)
        expected = Signal.RESYNC if recheck_seconds else None
        assert await next_item(feed, wait=1.0) is expected
        assert await next_item(feed, wait=0.5) is None  # once


async def test_a_notice_in_flight_causes_no_reread(app: Starlette, gql: GraphQLClient) -> None:
    """Announced after a check saw the event, before the next one: no re-read (a hub
    that re-read at first sight would send RESYNC here)."""
    sessions = app.state.database.row_sessions
    conv = (await factories.conversation(gql))["id"]
    async with hub_of(sessions, 0.5) as hub, following(hub, sessions, conv) as feed:
        await write_unannounced(app, conv, 1)
        async with sessions() as session:
            event = await session.scalar(
                select(Event).where(col(Event.conversation_id) == raw(conv), col(Event.seq) == 2)
            )
        # A check saw the event in the log; its notice comes before the next one.
        channel = hub._channels[conversation_channel(raw(conv))]
        await until(lambda: channel.observed == 2)
        await hub.broadcast.publish(conversation_channel(raw(conv)), Notice.of(event).encode())
        got = await next_item(feed, wait=1.0)
        assert isinstance(got, LoadedEvent), got
        assert got.seq == 2
        assert await next_item(feed, wait=1.2) is None


async def test_a_failing_database_is_one_warning_and_the_checks_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database that cannot be opened (its directory is missing), then can: one warning
    for the outage, and the checks resume (the conversation is gone: its feed re-reads)."""
    directory = tmp_path / "missing"
    database = Database.from_url(f"sqlite+aiosqlite:///{directory}/threadline.db")
    caplog.set_level(logging.INFO, logger="subscriptions.hub")
    try:
        async with (
            hub_of(database.row_sessions, 0.05) as hub,
            hub.listen_conversation(uuid.uuid4()) as feed,
        ):
            feed.caught_up_to(0)
            assert await next_item(feed, wait=0.5) is None  # about ten failed checks
            # Made elsewhere and moved in whole: the checks never see it without tables.
            ready = tmp_path / "ready"
            ready.mkdir()
            elsewhere = Database.from_url(f"sqlite+aiosqlite:///{ready}/threadline.db")
            async with elsewhere.engine.begin() as connection:
                await connection.run_sync(models.metadata.create_all)
            await elsewhere.engine.dispose()
            ready.rename(directory)
            # Two checks after the move (0.1 s idle); the end of a loaded CI run took over 3 s.
            assert await next_item(feed, wait=10.0) is Signal.RESYNC
    finally:
        await database.engine.dispose()
    said = [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records]
    assert said == [
        ("WARNING", "cannot check the event log for unannounced events"),
        ("INFO", "checking the event log for unannounced events again"),
    ]


def raw(conversation: str) -> uuid.UUID:
    return parse_id(conversation, "Conversation")
