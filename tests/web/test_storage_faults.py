"""Storage faults on SQLite, on real mounts: a full disk, and a read-only database.

A server process serves a database file on a small tmpfs, or from a bind mount of its
directory made read-only. While the fault lasts, writes answer 503 UNAVAILABLE,
/readyz 503 naming the check that failed, /healthz 200. When it ends the same process
(never restarted) is ready again and takes the same writes, retried with their client
ids, exactly once. Counts are read from the database file. Needs root (mount).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from config import Settings
from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.subscriptions.processes import ServerProcess, bind_mount, remount, serving, tmpfs
from tests.web.conftest import assert_unavailable, client_of
from web.app import create_app

# Writes of each kind (createConversation, sendMessage) attempted during a fault.
N = 5
READY = {"status": "ok", "checks": {"database": "ok", "writable": "ok", "broadcast": "ok"}}
COUNT = "{ conversations { totalCount } }"
DATABASE = "threadline.db"


@pytest.fixture
async def mountable(tmp_path: Path) -> None:
    probe = tmp_path / "mount-probe"
    probe.mkdir()
    try:
        async with tmpfs(probe, "1m"):
            pass
    except OSError as exc:
        pytest.skip(f"mounting is not permitted here (root with CAP_SYS_ADMIN is): {exc}")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@asynccontextmanager
async def prepared(path: Path) -> AsyncIterator[uuid.UUID]:
    """A migrated database at `path` with one conversation (its id yielded), open in
    this process until the block ends."""
    application = create_app(Settings(database_url=sqlite_url(path), sweep_interval_seconds=0))
    seed = uuid.uuid4()
    async with LifespanManager(application), client_of(application) as http:
        await factories.mutate(GraphQLClient(http), "createConversation", conversation_input(seed))
        yield seed


def conversation_input(conversation_id: uuid.UUID) -> dict[str, Any]:
    return {"id": str(conversation_id), "owner": {"participantId": "user-1"}}


@asynccontextmanager
async def server_on(path: Path, logs: Path) -> AsyncIterator[ServerProcess]:
    env = {
        "DATABASE_URL": sqlite_url(path),
        "BROADCAST_URL": "memory://",
        "AUTO_MIGRATE": "0",
        "SWEEP_INTERVAL_SECONDS": "0",
    }
    async with serving(logs, threadline=env) as servers:
        yield servers["threadline"]


class Writes:
    """N conversations and N messages into the seed conversation, by client ids: the
    same writes each time they are sent."""

    def __init__(self, seed: uuid.UUID) -> None:
        self.conversations = [uuid.uuid4() for _ in range(N)]
        self.messages = [uuid.uuid4() for _ in range(N)]
        into = to_global_id("Conversation", seed)
        self.inputs: list[tuple[str, dict[str, Any]]] = [
            ("createConversation", conversation_input(c)) for c in self.conversations
        ]
        self.inputs += [
            ("sendMessage", {"id": str(m), "conversationId": into, "senderId": "user-1"})
            for m in self.messages
        ]

    async def send(self, http: httpx.AsyncClient) -> list[httpx.Response]:
        return [await mutate(http, name, input) for name, input in self.inputs]


async def mutate(http: httpx.AsyncClient, name: str, input: dict[str, Any]) -> httpx.Response:
    document = factories.mutation_document(name, "id")
    return await http.post("/graphql", json={"query": document, "variables": {"input": input}})


def assert_answered(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


async def not_ready(http: httpx.AsyncClient, **failed: str) -> None:
    checks = {"database": "ok", "writable": "ok", "broadcast": "ok", **failed}
    await readiness_is(http, 503, {"status": "unavailable", "checks": checks})


async def ready_again(http: httpx.AsyncClient) -> None:
    await readiness_is(http, 200, READY)


async def readiness_is(
    http: httpx.AsyncClient, status: int, body: dict[str, Any], limit: float = 20.0
) -> None:
    """/readyz answers this within `limit`: its answer may be up to FRESH_FOR_S old, and
    a fault (or its end) takes effect some time after the test causes it."""
    deadline = time.monotonic() + limit
    while ((response := await http.get("/readyz")).status_code, response.json()) != (status, body):
        assert time.monotonic() < deadline, (response.status_code, response.json())
        await asyncio.sleep(0.1)


async def recovered(
    server: ServerProcess,
    http: httpx.AsyncClient,
    path: Path,
    before: dict[str, Any],
    writes: Writes,
) -> None:
    """Once the fault is over: the same process is ready again, the file holds nothing
    of the writes that failed, and the same writes sent again are each written once."""
    await ready_again(http)
    assert census(path) == before
    for response in await writes.send(http):
        assert_answered(response)
    assert census(path) == expected_after_retries(before, writes)
    assert server.process is not None
    assert server.process.returncode is None


def census(path: Path) -> dict[str, Any]:
    """What the database file holds: row counts, the conversations' ids, and the
    conversations whose events are not numbered 1..n without a gap."""
    with closing(sqlite3.connect(path)) as db:
        counts = {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("conversations", "messages", "events")
        }
        gaps = db.execute(
            "SELECT conversation_id FROM events GROUP BY conversation_id "
            "HAVING min(seq) != 1 OR max(seq) != count(*)"
        ).fetchall()
        conversations = {uuid.UUID(row[0]) for row in db.execute("SELECT id FROM conversations")}
        messages = {uuid.UUID(row[0]) for row in db.execute("SELECT id FROM messages")}
    return {**counts, "gaps": gaps, "conversation_ids": conversations, "message_ids": messages}


def expected_after_retries(before: dict[str, Any], writes: Writes) -> dict[str, Any]:
    """The seed's numbers plus exactly the writes, each once (a conversation created as
    the seed was has as many events; a message adds one)."""
    per_conversation = before["events"]
    return {
        "conversations": 1 + N,
        "messages": N,
        "events": per_conversation * (1 + N) + N,
        "gaps": [],
        "conversation_ids": before["conversation_ids"] | set(writes.conversations),
        "message_ids": set(writes.messages),
    }


def fill(directory: Path) -> Path:
    """A file that takes every byte left on `directory`'s filesystem."""
    filler = directory / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            block = b"\0" * size
            with contextlib.suppress(OSError):  # ENOSPC: full, at this size of block
                while True:
                    os.write(descriptor, block)
    finally:
        os.close(descriptor)
    assert os.statvfs(directory).f_bavail == 0
    return filler


@pytest.mark.usefixtures("mountable")
async def test_a_full_disk_answers_unavailable_and_recovers_without_restart(
    tmp_path: Path,
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    async with tmpfs(disk, "8m"):
        path = disk / DATABASE
        async with prepared(path) as seed:
            pass
        before = census(path)
        assert (before["conversations"], before["messages"], before["gaps"]) == (1, 0, [])
        writes = Writes(seed)
        async with server_on(path, tmp_path) as server, client(server) as http:
            assert (await http.get("/readyz")).json() == READY
            filler = fill(disk)
            assert (await http.get("/healthz")).status_code == 200
            await not_ready(http, writable="disk full")
            for response in await writes.send(http):
                assert_unavailable(response)
            # Reads need no room.
            body = assert_answered(await http.post("/graphql", json={"query": COUNT}))
            assert body["data"]["conversations"]["totalCount"] == 1
            assert census(path) == before

            filler.unlink()
            await recovered(server, http, path, before, writes)


@pytest.mark.usefixtures("mountable")
async def test_a_full_disk_is_not_ready_even_while_small_writes_fit(tmp_path: Path) -> None:
    """After a checkpoint SQLite writes its WAL file from the start again: on a full
    disk small commits still fit in its old frames, and so would a probe's write. The
    free space tells."""
    disk = tmp_path / "disk"
    disk.mkdir()
    async with tmpfs(disk, "8m"):
        settings = Settings(database_url=sqlite_url(disk / DATABASE), sweep_interval_seconds=0)
        application = create_app(settings)
        async with LifespanManager(application), client_of(application) as http:
            assert (await http.get("/readyz")).json() == READY
            async with application.state.engine.connect() as connection:
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            fill(disk)
            await not_ready(http, writable="disk full")
            created = await mutate(http, "createConversation", conversation_input(uuid.uuid4()))
            assert_answered(created)


@pytest.mark.usefixtures("mountable")
@pytest.mark.parametrize("leftover_wal", [False, True], ids=["closed-cleanly", "leftover-wal"])
async def test_a_read_only_database_answers_unavailable_and_recovers_without_restart(
    tmp_path: Path, leftover_wal: bool
) -> None:
    """Closed cleanly, a WAL database has no -wal and -shm files, and SQLite cannot
    create them in a read-only directory: reads fail too (SQLITE_CANTOPEN). With the
    files a crash leaves behind, reads work and writes fail (SQLITE_READONLY), and the
    server's connections, opened read-only, must be replaced once it is writable."""
    work, source, served = tmp_path / "work", tmp_path / "source", tmp_path / "served"
    for directory in (work, source, served):
        directory.mkdir()
    async with prepared(work / DATABASE) as seed:
        if leftover_wal:
            copy_database(work, source)
    if not leftover_wal:
        copy_database(work, source)
    before = census(work / DATABASE)
    assert (before["conversations"], before["messages"], before["gaps"]) == (1, 0, [])
    writes = Writes(seed)
    path = served / DATABASE
    async with bind_mount(source, served):
        await remount(served, writable=False)
        async with server_on(path, tmp_path) as server, client(server) as http:
            assert (await http.get("/healthz")).status_code == 200
            read = await http.post("/graphql", json={"query": COUNT})
            if leftover_wal:
                await not_ready(http, writable="read-only database")
                body = assert_answered(read)
                assert body["data"]["conversations"]["totalCount"] == 1
            else:
                cannot_open = "cannot open the database file"
                failed = {"database": cannot_open, "writable": cannot_open}
                await not_ready(http, **failed)
                assert_unavailable(read)
            for response in await writes.send(http):
                assert_unavailable(response)

            await remount(served, writable=True)
            await recovered(server, http, path, before, writes)


def copy_database(source: Path, target: Path) -> None:
    """The database file and, while it is open, its -wal and -shm files."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            shutil.copy2(source / f"{DATABASE}{suffix}", target / f"{DATABASE}{suffix}")


def client(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http_url, timeout=30)


@pytest.mark.usefixtures("mountable")
async def test_a_read_only_database_recovers_while_requests_keep_coming(tmp_path: Path) -> None:
    """Readers and writers busy across the remount: a connection opened read-only and
    still open keeps every new one read-only, so the server must close them all while
    requests keep arriving, not only once they stop."""
    work, source, served = tmp_path / "work", tmp_path / "source", tmp_path / "served"
    for directory in (work, source, served):
        directory.mkdir()
    async with prepared(work / DATABASE):
        copy_database(work, source)  # with its -wal and -shm: reads work, writes do not
    path = served / DATABASE
    written: list[uuid.UUID] = []
    refused = 0
    stop, refusing, writing = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def read(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            assert_answered(await http.post("/graphql", json={"query": COUNT}))

    async def write(http: httpx.AsyncClient) -> None:
        nonlocal refused
        while not stop.is_set():
            conversation = uuid.uuid4()
            response = await mutate(http, "createConversation", conversation_input(conversation))
            if response.status_code == 503:
                assert_unavailable(response)
                refused += 1
                if refused >= 4:
                    refusing.set()
            else:
                assert_answered(response)
                written.append(conversation)
                writing.set()

    async with bind_mount(source, served):
        await remount(served, writable=False)
        async with server_on(path, tmp_path) as server, client(server) as http:
            load = [read(http) for _ in range(8)] + [write(http) for _ in range(4)]
            running = [asyncio.create_task(task) for task in load]
            try:
                await asyncio.wait_for(refusing.wait(), 30)
                assert written == []
                await remount(served, writable=True)
                try:
                    await asyncio.wait_for(writing.wait(), 15)
                except TimeoutError:
                    raise AssertionError(f"no write went through ({refused} refused)") from None
            finally:
                stop.set()
                await asyncio.gather(*running)
    after = census(source / DATABASE)  # the file the mount showed
    # The seed and each acknowledged write, once; nothing of the refused ones.
    assert after["conversations"] == 1 + len(written)
    assert set(written) <= after["conversation_ids"], "an acknowledged write is missing"
    assert after["gaps"] == []
