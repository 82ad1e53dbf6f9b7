"""The Alembic migrations build exactly the tables the models declare."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
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
    url = database_url
    if url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('identities') / 'old.db'}"
        context: Any = contextlib.nullcontext(url)
    else:
        context = fresh_database(url)
    async with context as fresh:
        engine = create_engine(fresh)
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: command.upgrade(alembic_config(c), "0007"))
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
        await engine.dispose()


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
    conversation = uuid.uuid4().hex
    await connection.execute(
        text(
            "INSERT INTO conversations (id, kind, status, tags, metadata, owner_id, created_at,"
            " updated_at, last_activity_at, last_message_seq, message_count, input_tokens,"
            " output_tokens, total_tokens, cost) VALUES (:id, 'USER_AGENT', 'ACTIVE', '[]',"
            " '{}', 'alice', :at, :at, :at, 0, 0, 0, 0, 0, 0)"
        ),
        {"id": conversation, "at": datetime(2026, 1, 1)},
    )
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
