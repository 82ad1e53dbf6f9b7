"""Pooled PostgreSQL connections: checked before use only after idling, replaced if dead."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers import db
from tests.databases import terminate_connections

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(POSTGRES_URL is None, reason="TEST_DATABASE_URL is not set")


async def terminate(application_name: str) -> int:
    assert POSTGRES_URL is not None
    return await terminate_connections(POSTGRES_URL, application_name)


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        pid: int = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        return pid


@pytest.fixture
def application_name() -> str:
    return f"tl-pool-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def engine(application_name: str) -> AsyncIterator[AsyncEngine]:
    assert POSTGRES_URL is not None
    settings = {"server_settings": {"application_name": application_name}}
    engine = db.create_engine(POSTGRES_URL, pool_size=1, connect_args=settings)
    yield engine
    await engine.dispose()


async def test_a_connection_closed_while_idle_is_replaced(
    engine: AsyncEngine, application_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.05)
    first = await backend_pid(engine)
    assert await terminate(application_name) == 1
    await asyncio.sleep(0.1)
    assert await backend_pid(engine) != first


async def test_a_connection_closed_a_moment_after_use_fails_one_statement(
    engine: AsyncEngine, application_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The price of not checking on every checkout: within the window, the statement
    # finds the connection dead; the pool then replaces it for the next one.
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 60.0)
    first = await backend_pid(engine)
    assert await terminate(application_name) == 1
    with pytest.raises(DBAPIError):
        await backend_pid(engine)
    assert await backend_pid(engine) != first


async def test_connections_plan_without_jit_and_keep_their_own_settings(
    engine: AsyncEngine, application_name: str
) -> None:
    async with engine.connect() as connection:
        shown = await connection.execute(
            text("SELECT current_setting('jit'), current_setting('application_name')")
        )
        assert tuple(shown.one()) == ("off", application_name)
