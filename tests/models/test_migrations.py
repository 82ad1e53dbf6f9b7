"""The Alembic migrations build exactly the tables the models declare."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette

import models
from migrations import alembic_config
from models.search import managed_by_migrations
from resolvers.db import create_engine
from tests.databases import fresh_database


def differences(connection: Connection) -> list[Any]:
    # The FTS5 index (models/search.py) is declared by the migration alone.
    opts = {"compare_type": True, "include_name": managed_by_migrations}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, models.metadata))


async def test_migrated_database_matches_the_models(app: Starlette) -> None:
    async with app.state.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_the_newest_migration_goes_down_and_up_again(app: Starlette) -> None:
    def down_and_up(connection: Connection) -> list[Any]:
        config = alembic_config(connection)
        command.downgrade(config, "-1")
        command.upgrade(config, "head")
        return differences(connection)

    async with app.state.engine.begin() as connection:
        assert await connection.run_sync(down_and_up) == []


@contextlib.asynccontextmanager
async def at_revision(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, revision: str
) -> AsyncIterator[AsyncConnection]:
    """A connection (in a transaction) to a new database migrated up to `revision`."""
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('old') / 'old.db'}"
        context: Any = contextlib.nullcontext(url)
    else:
        context = fresh_database(database_url)
    async with context as fresh:
        engine = create_engine(fresh)
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: command.upgrade(alembic_config(c), revision))
            yield connection
        await engine.dispose()


OLD_KEYS = [
    # (owner, agent id, created): bob's "alice" is a user's id; carol's "helper" came
    # after alice's; dave's "dave-bot" is sound.
    ("bob", "alice", "2026-01-01"),
    ("alice", "helper", "2026-01-02"),
    ("carol", "helper", "2026-01-03"),
    ("dave", "dave-bot", "2026-01-04"),
]


async def test_the_identity_migration_keeps_only_sound_agent_claims(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Keys made before agents were owned: a key whose agent id is a user's, or that an
    older key of another owner claimed first, loses it; the rest become registered agents,
    and so do agents that only took part in conversations (to their conversation's owner)."""
    async with at_revision(database_url, tmp_path_factory, "0007") as connection:
        await _old_rows(connection)
        await connection.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
        keys = await connection.execute(text("SELECT owner_id, agent_id FROM api_keys"))
        agents = await connection.execute(text("SELECT id, owner_id FROM agents"))
        owner = await connection.execute(text("SELECT owner_type FROM conversations"))
        assert sorted(keys.all(), key=str) == sorted(
            [("bob", None), ("alice", "helper"), ("carol", None), ("dave", "dave-bot")],
            key=str,
        )
        assert sorted(agents.all()) == [
            ("dave-bot", "dave"),
            ("helper", "alice"),
            ("scout", "alice"),
        ]
        assert owner.all() == [("USER",)]


async def _conversation(connection: AsyncConnection, at: datetime, owner: str = "ada") -> str:
    """A conversation row as every revision since 0007 takes it; its id."""
    conversation = uuid.uuid4().hex
    await connection.execute(
        text(
            "INSERT INTO conversations (id, kind, status, tags, metadata, owner_id, created_at,"
            " updated_at, last_activity_at, last_message_seq, message_count, input_tokens,"
            " output_tokens, total_tokens, cost) VALUES (:id, 'USER_AGENT', 'ACTIVE', '[]',"
            " '{}', :owner, :at, :at, :at, 0, 0, 0, 0, 0, 0)"
        ),
        {"id": conversation, "owner": owner, "at": at},
    )
    return conversation


async def _old_rows(connection: AsyncConnection) -> None:
    for owner, agent, created in OLD_KEYS:
        await connection.execute(
            text(
                "INSERT INTO api_keys (id, owner_id, name, agent_id, prefix, secret_hash, "
                "scopes, created_at) VALUES (:id, :owner, 'k', :agent, 'tl_x', :hash, '[]', :at)"
            ),
            {
                "id": uuid.uuid4().hex,
                "owner": owner,
                "agent": agent,
                "hash": uuid.uuid4().hex,
                "at": datetime.fromisoformat(created),
            },
        )
    conversation = await _conversation(connection, datetime(2026, 1, 1), owner="alice")
    for who, kind in (("alice", "USER"), ("scout", "AGENT")):
        await connection.execute(
            text(
                "INSERT INTO participants (id, conversation_id, participant_id, "
                "participant_type, role, active, joined_at) VALUES (:id, :c, :who, :kind, "
                "'MEMBER', true, :at)"
            ),
            {
                "id": uuid.uuid4().hex,
                "c": conversation,
                "who": who,
                "kind": kind,
                "at": datetime(2026, 1, 1),
            },
        )


async def test_costs_become_exact_nano_dollars_and_back(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Migration 0010 turns float costs into whole nano-dollars, with the rows of every
    table that has one (a spans' table rebuilt on SQLite would cascade), and back."""
    async with at_revision(database_url, tmp_path_factory, "0009") as connection:
        conversation, trace = uuid.uuid4().hex, uuid.uuid4().hex
        at = datetime(2026, 1, 1)
        await connection.execute(
            text(
                "INSERT INTO conversations (id, kind, status, tags, metadata, owner_id,"
                " created_at, updated_at, last_activity_at, last_message_seq,"
                " message_count, input_tokens, output_tokens, total_tokens, cost)"
                " VALUES (:id, 'USER_AGENT', 'ACTIVE', '[]', '{}', 'ada', :at, :at, :at,"
                " 0, 0, 0, 0, 0, 0.11522)"
            ),
            {"id": conversation, "at": at},
        )
        await connection.execute(
            text(
                "INSERT INTO traces (id, conversation_id, status, started_at,"
                " total_tokens, cost) VALUES (:id, :c, 'OK', :at, 0, 0.01522)"
            ),
            {"id": trace, "c": conversation, "at": at},
        )
        await connection.execute(
            text(
                "INSERT INTO messages (id, conversation_id, seq, sender_id, sender_type,"
                " role, content, parts, status, input_tokens, output_tokens, total_tokens,"
                " cost, attachments, metadata, created_at, updated_at) VALUES (:id, :c, 1,"
                " 'ada', 'USER', 'USER', 'hi', '[]', 'COMPLETE', 0, 0, 0, 0.000000002,"
                " '[]', '{}', :at, :at)"
            ),
            {"id": uuid.uuid4().hex, "c": conversation, "at": at},
        )
        costs = (
            "SELECT (SELECT cost FROM conversations), (SELECT cost FROM traces),"
            " (SELECT cost FROM messages)"
        )
        await connection.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
        exact = (115_220_000, 15_220_000, 2)
        assert (await connection.execute(text(costs))).one() == exact
        await connection.run_sync(lambda c: command.downgrade(alembic_config(c), "0009"))
        assert (await connection.execute(text(costs))).one() == (0.11522, 0.01522, 2e-9)
        await connection.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
        assert (await connection.execute(text(costs))).one() == exact


# (name, parent, role, status, the event of an agent's question or of its answer)
OldMessage = tuple[str, str | None, str, str, str | None]
WITH_A_USER: list[OldMessage] = [
    ("prompt", None, "USER", "COMPLETE", None),
    ("calls", "prompt", "ASSISTANT", "COMPLETE", None),  # with a tool call
    ("result", "calls", "TOOL", "COMPLETE", None),
    ("answer", "result", "ASSISTANT", "COMPLETE", None),
    ("second", "answer", "USER", "COMPLETE", None),
    ("failed", "second", "ASSISTANT", "ERROR", None),
    # Regenerated on the first prompt's branch after the second prompt was written.
    ("again", "result", "ASSISTANT", "COMPLETE", None),
    ("question", "again", "ASSISTANT", "COMPLETE", "ASK_USER"),
    ("reply", "question", "USER", "COMPLETE", "USER_ANSWER"),
]
AGENT_FIRST: list[OldMessage] = [
    ("opening", None, "ASSISTANT", "COMPLETE", None),
    ("follow-up", "opening", "ASSISTANT", "COMPLETE", None),
]


async def _old_messages(
    connection: AsyncConnection, at: datetime, messages: list[OldMessage]
) -> dict[str, str]:
    """`messages` in order in a new conversation, with their events and a tool call on
    `calls`; their ids by name (each one's content)."""
    conversation = await _conversation(connection, at)
    ids: dict[str, str] = {}
    for seq, (name, parent, role, status, event) in enumerate(messages, start=1):
        ids[name] = uuid.uuid4().hex
        await connection.execute(
            text(
                "INSERT INTO messages (id, conversation_id, seq, parent_message_id, sender_id,"
                " sender_type, role, content, parts, status, input_tokens, output_tokens,"
                " total_tokens, cost, attachments, metadata, created_at, updated_at) VALUES"
                " (:id, :c, :seq, :parent, 'ada', 'USER', :role, :name, '[]', :status, 0, 0, 0,"
                " 0, '[]', '{}', :at, :at)"
            ),
            {
                "id": ids[name],
                "c": conversation,
                "seq": seq,
                "parent": ids[parent] if parent else None,
                "role": role,
                "name": name,
                "status": status,
                "at": at,
            },
        )
        if event is not None:
            await connection.execute(
                text(
                    "INSERT INTO events (conversation_id, seq, kind, created_at, message_id,"
                    " data) VALUES (:c, :seq, :kind, :at, :m, '{}')"
                ),
                {"c": conversation, "seq": seq, "kind": event, "at": at, "m": ids[name]},
            )
        if name == "calls":
            await connection.execute(
                text(
                    "INSERT INTO tool_calls (id, message_id, position, call_id, tool_name,"
                    " arguments, status) VALUES (:id, :m, 0, 'c1', 'search', '{}', 'COMPLETED')"
                ),
                {"id": uuid.uuid4().hex, "m": ids[name]},
            )
    return ids


PLAN_STATUSES = ("COMPLETED", "FAILED", "CANCELLED", "RUNNING", "DRAFT")


async def _old_plans(connection: AsyncConnection, at: datetime) -> None:
    """A plan of each status, last updated a day after it was created."""
    conversation = await _conversation(connection, at)
    for status in PLAN_STATUSES:
        await connection.execute(
            text(
                "INSERT INTO plans (id, conversation_id, title, status, context, max_retries,"
                " created_at, updated_at) VALUES (:id, :c, :status, :status, '{}', 3, :at,"
                " :later)"
            ),
            {
                "id": uuid.uuid4().hex,
                "c": conversation,
                "status": status,
                "at": at,
                "later": at + timedelta(days=1),
            },
        )


async def test_rows_written_before_0031_get_turns_types_and_plan_ends(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Migration 0031 gives old rows what new ones get when written (resolvers.message_kinds):
    a message joins its parent's turn unless it is a user's prompt (a user's answer to an
    agent's question is not one), a message without a parent opens its own; its type
    follows its role, status, tool calls and question; a plan that ended ended when it was
    last updated."""
    at = datetime(2026, 1, 1)
    async with at_revision(database_url, tmp_path_factory, "0030") as connection:
        ids = await _old_messages(connection, at, WITH_A_USER)
        ids |= await _old_messages(connection, at, AGENT_FIRST)
        await _old_plans(connection, at)
        await connection.run_sync(lambda c: command.upgrade(alembic_config(c), "0031"))
        rows = await connection.execute(
            text("SELECT content, turn_message_id, message_type FROM messages")
        )
        names = {uuid.UUID(str(v)): k for k, v in ids.items()}
        found = {content: (names[uuid.UUID(str(turn))], kind) for content, turn, kind in rows}
        ended = await connection.execute(
            text("SELECT status FROM plans WHERE completed_at = updated_at")
        )
        running = await connection.execute(
            text("SELECT status FROM plans WHERE completed_at IS NULL")
        )
        plans = (sorted(ended.scalars()), sorted(running.scalars()))
    assert found == {
        "prompt": ("prompt", "TEXT"),
        "calls": ("prompt", "TOOL_CALL"),
        "result": ("prompt", "TOOL_RESULT"),
        "answer": ("prompt", "ANSWER"),
        "second": ("second", "TEXT"),
        "failed": ("second", "ERROR"),
        "again": ("prompt", "ANSWER"),
        "question": ("prompt", "QUESTION"),
        "reply": ("prompt", "TEXT"),
        "opening": ("opening", "ANSWER"),
        "follow-up": ("opening", "ANSWER"),
    }
    assert plans == (["CANCELLED", "COMPLETED", "FAILED"], ["DRAFT", "RUNNING"])
