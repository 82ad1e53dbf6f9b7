"""PostgreSQL restarts under two server processes while clients write and subscribe:
clients that do what the server's errors tell them lose nothing and repeat nothing.

A cluster of the test's own is stopped (`fast`, then `immediate`) and started again on
its port; broadcasts go through a redis-server of the test's own. Writers send messages
with ids of their own and retry 503 UNAVAILABLE with the same ids. Subscribers share a
few sockets: after RESUME_REQUIRED they subscribe again on the same socket from its
cursor; a refused subscribe (UNAVAILABLE) is retried there with backoff. More
subscribers join while the database is down, some on sockets that had none yet.
Afterwards every subscriber holds exactly its conversation's event log, each message was
written once, and no socket had to be opened again. Run with -s for the figures.

Needs TEST_DATABASE_URL and a redis:// TEST_BROADCAST_URL (the suite's PostgreSQL and
Redis run; neither shared server is used), initdb, pg_ctl and redis-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.protocol import State

from resolvers.ids import from_global_id, to_global_id
from tests import factories
from tests.databases import admin_connection
from tests.graphql_client import GraphQLClient
from tests.subscriptions.processes import (
    INITDB,
    PG_CTL,
    REDIS_SERVER,
    PostgresCluster,
    ServerProcess,
    postgres_cluster,
    redis_server,
    serving,
)
from tests.subscriptions.test_multiprocess import from_start, pair
from tests.ws_client import GraphQLWebSocket, connect

pytestmark = pytest.mark.skipif(
    os.environ.get("TEST_DATABASE_URL") is None
    or not os.environ.get("TEST_BROADCAST_URL", "").startswith("redis://")
    or None in (INITDB, PG_CTL, REDIS_SERVER),
    reason="needs TEST_DATABASE_URL, a redis:// TEST_BROADCAST_URL, initdb, pg_ctl, redis-server",
)

CONVERSATIONS = 4
SOCKETS = 5  # each follows every conversation: 20 subscribers
# Open from the start, their first subscribe is while the database is down: nothing that
# succeeded before (events delivered on the socket) can hide a failure kept for later.
IDLE_SOCKETS = 2
STEADY_SECONDS = 2.0  # of traffic before, between and after the outages
DOWN_SECONDS = 2.5
CATCH_UP_SECONDS = 20.0  # for the last writes' answers, then their events everywhere
WRITE_PAUSE = 0.02
POLL = 0.5  # how often a waiting subscriber looks whether its socket closed

EVENTS = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    seq cursor kind ... on MessageEvent { message { id } }
  }
}"""
SEND = factories.mutation_document("sendMessage", "id")
# (seq, kind, message id): one event as a subscriber saw it and as the log holds it.
Logged = tuple[int, str, str | None]


@dataclass
class Tally:
    """What the clients went through."""

    write_retries: int = 0
    resumes: int = 0  # RESUME_REQUIRED: subscribed again from its cursor
    unavailable: int = 0  # UNAVAILABLE on subscribing: tried again after a pause
    reconnects: int = 0  # sockets opened again because the server closed them
    unexpected: list[str] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)  # when writes were acknowledged


class Backoff:
    def __init__(self, first: float = 0.1, most: float = 1.0) -> None:
        self.first, self.most, self.delay = first, most, first

    async def wait(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.most)

    def reset(self) -> None:
        self.delay = self.first


class Socket:
    """One client WebSocket that several subscriptions share; opened again (and
    counted) only when the server closes it."""

    def __init__(self, name: str, url: str, tally: Tally) -> None:
        self.name, self.url, self.tally = name, url, tally
        self.generation = 0
        self._stack = AsyncExitStack()
        self._lock = asyncio.Lock()
        self._ws: GraphQLWebSocket | None = None

    @property
    def ws(self) -> GraphQLWebSocket:
        assert self._ws is not None
        return self._ws

    async def open(self) -> None:
        self._ws = await self._stack.enter_async_context(connect(self.url))

    async def reopen(self, generation: int) -> None:
        """Once per closing, whichever of its subscriptions notices first."""
        async with self._lock:
            if generation != self.generation:
                return
            self.generation += 1
            self.tally.reconnects += 1
            await self.close()
            backoff = Backoff()
            while True:
                try:
                    return await self.open()
                except (OSError, TimeoutError, AssertionError, WebSocketException):
                    await backoff.wait()

    async def close(self) -> None:
        stack, self._stack = self._stack, AsyncExitStack()
        with contextlib.suppress(WebSocketException, OSError):
            await stack.aclose()


CLOSED: dict[str, Any] = {"message": "the server closed the socket"}


@dataclass
class Subscriber:
    """Follows one conversation from its first event, resuming as the server says."""

    socket: Socket
    conversation: str
    tally: Tally
    received: list[Logged] = field(default_factory=list)
    first_at: float | None = None  # when its first event arrived
    last_at: float | None = None

    def __post_init__(self) -> None:
        self.cursor = from_start(self.conversation)

    async def follow(self, final: dict[str, int]) -> None:
        """Until the conversation's last event (in `final` once writes stop)."""
        backoff = Backoff()
        while not self.done(final):
            ws, generation = self.socket.ws, self.socket.generation
            try:
                op = await ws.subscribe(EVENTS, {"c": self.conversation, "after": self.cursor})
                error = await self.read(ws, op, final, backoff)
            except ConnectionClosed:
                error = CLOSED
            if error is None:
                return
            if error is CLOSED:
                await self.socket.reopen(generation)
                continue
            extensions = error.get("extensions") or {}
            code = extensions.get("code")
            if code == "RESUME_REQUIRED" and "cursor" in extensions:
                self.tally.resumes += 1
                self.cursor = extensions["cursor"]
                continue
            if code == "UNAVAILABLE":
                self.tally.unavailable += 1
            else:
                self.tally.unexpected.append(f"subscription: {code}: {error.get('message')}")
            await backoff.wait()

    async def read(
        self, ws: GraphQLWebSocket, op: str, final: dict[str, int], backoff: Backoff
    ) -> dict[str, Any] | None:
        """Events until the last one (None) or the subscription's error."""
        while not self.done(final):
            try:
                message = await ws.message(op, POLL)
            except TimeoutError:
                if ws.socket.state is not State.OPEN:
                    return CLOSED
                continue
            payload = message.get("payload") or {}
            if message["type"] == "next" and not payload.get("errors"):
                event = payload["data"]["conversationEvents"]
                self.received.append((event["seq"], event["kind"], message_id(event)))
                self.cursor = event["cursor"]
                self.last_at = time.monotonic()
                self.first_at = self.first_at or self.last_at
                backoff.reset()
            elif message["type"] == "next":
                return dict(payload["errors"][0])
            elif message["type"] == "error":
                return dict(message["payload"][0])
            else:
                return {"message": f"the subscription ended without an error: {message}"}
        with contextlib.suppress(ConnectionClosed):
            await ws.stop(op)
        return None

    def done(self, final: dict[str, int]) -> bool:
        last = final.get(self.conversation)
        return last is not None and bool(self.received) and self.received[-1][0] >= last


def message_id(event: dict[str, Any]) -> str | None:
    message = event.get("message")
    return None if message is None else str(message["id"])


async def write_messages(
    clients: list[httpx.AsyncClient],
    conversation: str,
    stop: asyncio.Event,
    tally: Tally,
    written: list[str],
) -> None:
    """Messages, one after the other, each acknowledged before the next, until `stop`."""
    for n in itertools.count():
        if stop.is_set():
            return
        client_id = str(uuid.uuid4())
        content = f"{conversation} #{n}"
        message = {"id": client_id, "conversationId": conversation, "senderId": "user-1"}
        await send(clients, n, {"input": {**message, "content": content}}, tally)
        written.append(client_id)
        await asyncio.sleep(WRITE_PAUSE)


async def send(
    clients: list[httpx.AsyncClient], n: int, variables: dict[str, Any], tally: Tally
) -> None:
    """POST until acknowledged, alternating between the servers. Always the same id: a
    write that landed before its answer was lost is not written again."""
    backoff = Backoff()
    for attempt in itertools.count():
        client = clients[(n + attempt) % len(clients)]
        try:
            response = await client.post("/graphql", json={"query": SEND, "variables": variables})
        except httpx.TransportError as exc:  # the servers stay up: not expected either
            tally.unexpected.append(f"write: {exc!r}")
        else:
            if response.status_code == 200 and not response.json().get("errors"):
                tally.acks.append(time.monotonic())
                return
            if problem := refusal_problem(response):
                tally.unexpected.append(problem)
        tally.write_retries += 1
        await backoff.wait()


def refusal_problem(response: httpx.Response) -> str | None:
    """What is wrong with a refused write; None when it says "retry later" as promised:
    503 with Retry-After, every error UNAVAILABLE with a request id."""
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = []
    extensions = [error.get("extensions") or {} for error in errors]
    codes = [extension.get("code") for extension in extensions]
    retryable = (
        response.status_code == 503
        and "Retry-After" in response.headers
        and codes
        and all(code == "UNAVAILABLE" for code in codes)
        and all(extension.get("requestId") for extension in extensions)
    )
    if retryable:
        return None
    answer = errors[0].get("message") if errors else response.text[:200]
    return f"write: HTTP {response.status_code} {codes}: {answer}"


@dataclass
class Run:
    conversations: list[str] = field(default_factory=list)
    subscribers: list[Subscriber] = field(default_factory=list)
    written: dict[str, list[str]] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)
    figures: dict[str, str] = field(default_factory=dict)

    def time(self, name: str, since: float) -> None:
        self.figures[name] = f"{time.monotonic() - since:.2f} s"


async def test_clients_lose_nothing_across_postgres_restarts(tmp_path: Path) -> None:
    run = Run()
    began = time.monotonic()
    async with postgres_cluster() as postgres:
        run.time("initdb + start of the cluster", began)
        env = {"DATABASE_URL": postgres.url, "SWEEP_INTERVAL_SECONDS": "0"}
        async with redis_server(tmp_path) as redis:
            began = time.monotonic()
            async with serving(tmp_path, **pair({**env, "BROADCAST_URL": redis.url})) as servers:
                run.time("start of the two servers", began)
                await restart_under_traffic(postgres, [servers["a"], servers["b"]], run)
            log, messages = await event_log(postgres), await message_rows(postgres)
        logs = [(f"{s.name}.log", s.output()) for s in servers.values()]
        logs.append(("postgres", postgres.output()))
    problems = check(run, log, messages)
    report = summary(run, log, problems)
    print(report)
    assert not problems, "\n".join([report, *(f"--- {name}\n{text}" for name, text in logs)])


async def restart_under_traffic(
    postgres: PostgresCluster, servers: list[ServerProcess], run: Run
) -> None:
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=s.http_url, timeout=10))
            for s in servers
        ]
        gql = GraphQLClient(clients[0])
        run.conversations = [
            (await factories.conversation(gql))["id"] for _ in range(CONVERSATIONS)
        ]
        sockets = []
        for index in range(SOCKETS + IDLE_SOCKETS):
            server = servers[index % len(servers)]
            idle = " (idle until the outage)" if index >= SOCKETS else ""
            sockets.append(
                Socket(f"socket {index} on {server.name}{idle}", server.ws_url, run.tally)
            )
        for socket in sockets:
            stack.push_async_callback(socket.close)
            await socket.open()
        try:
            await traffic(postgres, clients, sockets, run)
        except TimeoutError:
            run.figures["end"] = "timed out: writes not acknowledged or subscribers behind"


async def traffic(
    postgres: PostgresCluster, clients: list[httpx.AsyncClient], sockets: list[Socket], run: Run
) -> None:
    """Writes and subscriptions throughout two outages; returns when every subscriber has
    its conversation's last event."""
    final: dict[str, int] = {}  # the conversations' last seqs, once writes stop
    stop = asyncio.Event()
    async with asyncio.timeout(None) as deadline, asyncio.TaskGroup() as tasks:

        def follow(socket: Socket, conversation: str) -> Subscriber:
            subscriber = Subscriber(socket, conversation, run.tally)
            run.subscribers.append(subscriber)
            tasks.create_task(subscriber.follow(final))
            return subscriber

        for socket, conversation in itertools.product(sockets[:SOCKETS], run.conversations):
            follow(socket, conversation)
        writers = [
            tasks.create_task(
                write_messages(clients, c, stop, run.tally, run.written.setdefault(c, []))
            )
            for c in run.conversations
        ]
        await asyncio.sleep(STEADY_SECONDS)
        run.figures["writes acknowledged before the outages"] = str(len(run.tally.acks))
        for number, mode in enumerate(("fast", "immediate"), 1):
            newcomers = [
                (socket, run.conversations[(index + number) % CONVERSATIONS])
                for index, socket in enumerate(sockets)
            ]
            await outage(postgres, mode, run, follow, newcomers)
        stop.set()
        deadline.reschedule(asyncio.get_running_loop().time() + CATCH_UP_SECONDS)
        await asyncio.gather(*writers)
        final.update(await last_seqs(postgres, run.conversations))
    last_event = max(s.last_at or 0 for s in run.subscribers) - max(run.tally.acks)
    run.figures["last event delivered, after the last write's answer"] = f"{last_event:+.2f} s"


async def outage(
    postgres: PostgresCluster,
    mode: str,
    run: Run,
    follow: Callable[[Socket, str], Subscriber],
    newcomers: list[tuple[Socket, str]],
) -> None:
    """Stop the database, subscribe anew while it is down, start it, go on for a while."""
    began = time.monotonic()
    await postgres.stop(mode)
    run.time(f"pg_ctl stop -m {mode}", began)
    joined = [follow(socket, conversation) for socket, conversation in newcomers]
    await asyncio.sleep(DOWN_SECONDS)
    starting = time.monotonic()
    await postgres.start()
    run.time(f"pg_ctl start after {mode}", starting)
    run.time(f"database down ({mode})", began)
    started = time.monotonic()
    await asyncio.sleep(STEADY_SECONDS)
    after = f"{STEADY_SECONDS} s after the start ({mode})"
    acknowledged = [t - started for t in run.tally.acks if t >= started]
    first = f", the first after {min(acknowledged):.2f} s" if acknowledged else ""
    run.figures[f"{after}: writes acknowledged"] = f"{len(acknowledged)}{first}"
    waits = [s.first_at - started for s in joined if s.first_at is not None]
    last = f", the last after {max(waits):.2f} s" if waits else ""
    run.figures[f"{after}: subscribers who joined while it was down and got events"] = (
        f"{len(waits)} of {len(joined)}{last}"
    )


async def last_seqs(postgres: PostgresCluster, conversations: list[str]) -> dict[str, int]:
    by_uuid = {from_global_id(c)[1]: c for c in conversations}
    database = await admin_connection(postgres.url)
    try:
        rows = await database.fetch(
            "SELECT conversation_id, max(seq) AS last FROM events"
            " WHERE conversation_id = ANY($1) GROUP BY conversation_id",
            list(by_uuid),
        )
    finally:
        await database.close()
    return {by_uuid[row["conversation_id"]]: row["last"] for row in rows}


async def event_log(postgres: PostgresCluster) -> dict[str, list[Logged]]:
    """Every conversation's events, by global id, as a subscriber should see them."""
    database = await admin_connection(postgres.url)
    try:
        rows = await database.fetch(
            "SELECT conversation_id, seq, kind, message_id FROM events"
            " ORDER BY conversation_id, seq"
        )
    finally:
        await database.close()
    log: dict[str, list[Logged]] = {}
    for row in rows:
        message = row["message_id"] and to_global_id("Message", row["message_id"])
        conversation = to_global_id("Conversation", row["conversation_id"])
        log.setdefault(conversation, []).append((row["seq"], row["kind"], message))
    return log


async def message_rows(postgres: PostgresCluster) -> dict[str, list[tuple[str, str]]]:
    """Every conversation's messages, by global id: (id, content)."""
    database = await admin_connection(postgres.url)
    try:
        rows = await database.fetch("SELECT conversation_id, id, content FROM messages")
    finally:
        await database.close()
    messages: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        conversation = to_global_id("Conversation", row["conversation_id"])
        messages.setdefault(conversation, []).append((str(row["id"]), row["content"]))
    return messages


def check(
    run: Run, log: dict[str, list[Logged]], messages: dict[str, list[tuple[str, str]]]
) -> list[str]:
    problems = []
    for number, conversation in enumerate(run.conversations):
        written = sorted(run.written[conversation])
        rows = messages.get(conversation, [])
        if sorted(row_id for row_id, _content in rows) != written:
            problems.append(f"conversation {number}: {len(rows)} messages, {len(written)} acked")
        repeated = [c for c, n in Counter(content for _id, content in rows).items() if n > 1]
        if repeated:
            problems.append(f"conversation {number}: written more than once: {repeated[:3]}")
        announced = [str(m) for _seq, kind, m in log[conversation] if kind == "MESSAGE_CREATED"]
        if sorted(announced) != sorted(to_global_id("Message", w) for w in written):
            problems.append(f"conversation {number}: {len(announced)} message events")
        for subscriber in run.subscribers:
            if subscriber.conversation == conversation:
                problems += differences(number, subscriber, log[conversation])
    tally = run.tally
    if tally.unexpected:
        problems.append(f"{len(tally.unexpected)} answers a client cannot act on")
    if tally.reconnects:
        problems.append(f"{tally.reconnects} sockets had to be opened again")
    if not tally.write_retries:
        problems.append("no write was refused: the outages did not happen")
    return problems


def differences(number: int, subscriber: Subscriber, expected: list[Logged]) -> list[str]:
    received = subscriber.received
    if received == expected:
        return []
    seqs = [seq for seq, _kind, _message in received]
    repeated = sum(n - 1 for n in Counter(seqs).values())
    missing = len({seq for seq, _kind, _message in expected} - set(seqs))
    in_order = seqs == sorted(seqs)
    return [
        f"{subscriber.socket.name}, conversation {number}: {len(received)} events of"
        f" {len(expected)},"
        f" {repeated} repeated, {missing} missing, {'in' if in_order else 'out of'} order"
    ]


def summary(run: Run, log: dict[str, list[Logged]], problems: list[str]) -> str:
    tally = run.tally
    expected = sum(len(log.get(s.conversation, [])) for s in run.subscribers)
    delivered = sum(len(s.received) for s in run.subscribers)
    lines = [f"{name}: {value}" for name, value in run.figures.items()]
    lines += [
        f"subscribers: {len(run.subscribers)} on {SOCKETS + IDLE_SOCKETS} sockets;"
        f" events delivered {delivered} (log: {expected});"
        f" events per conversation {[len(log.get(c, [])) for c in run.conversations]}",
        f"writes acknowledged: {len(tally.acks)}, retried: {tally.write_retries}",
        f"resumed after RESUME_REQUIRED: {tally.resumes}; subscribes refused UNAVAILABLE:"
        f" {tally.unavailable}; sockets opened again: {tally.reconnects}",
    ]
    # Grouped by what they say, whatever request they answered.
    answers = Counter(re.sub(r"request id \w+", "request id ...", a) for a in tally.unexpected)
    for answer, count in answers.most_common(8):
        lines.append(f"  {count} x {answer}")
    return "\n".join(lines + problems)
