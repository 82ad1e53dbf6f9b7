"""The compiled path's statements on the driver (resolvers/compiled/driver.py): bind
values typed as the engine's path sends them, the pool kept whole, and a statement
timeout still recognised as one."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from asyncpg.exceptions import QueryCanceledError
from sqlalchemy import bindparam, literal, select
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import Uuid

from models import Conversation
from models.enums import ParticipantType
from resolvers.compiled.driver import DriverStatement, driver_statement, fetch_value
from resolvers.db import create_engine, is_statement_timeout, is_unavailable

pytestmark = pytest.mark.postgres_only


async def test_constants_are_bound_as_their_types_write_them(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        owner = select(literal(ParticipantType.AGENT, cast(Any, Conversation).owner_type.type))
        ids = select(literal(1)).where(bindparam("conversation_id_0", type_=Uuid()).is_(None))
        statement = driver_statement(owner, engine.dialect, frozenset())
        # The enumeration stored as its name, converted once, when the plan compiled.
        assert statement.binds == ((None, "AGENT"),)
        assert await fetch_value(engine, statement, statement.arguments({})) == "AGENT"
        # An IN list's elements too, expanded into their own placeholders.
        among = select(literal(1)).where(
            cast(Any, Conversation).owner_type.in_([ParticipantType.AGENT, ParticipantType.USER])
        )
        expanded = driver_statement(among, engine.dialect, frozenset())
        assert [type(value) for _, value in expanded.binds] == [int, str, str]
        per_request = driver_statement(ids, engine.dialect, frozenset({"conversation_id_0"}))
        assert per_request.binds[-1] == ("conversation_id_0", None)
    finally:
        await engine.dispose()


async def test_a_connection_past_the_pool_size_is_closed_on_return(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=1)
    pool = cast(QueuePool, engine.sync_engine.pool)
    try:
        async with engine.connect() as held:
            await held.exec_driver_sql("SELECT 1")
            slow = DriverStatement("SELECT pg_sleep(0.2)::text", ())
            reading = asyncio.create_task(fetch_value(engine, slow, []))
            await asyncio.sleep(0.05)
            assert pool.overflow() == 1
        # The held connection is back: the reading's, one too many, is closed as it
        # returns, which awaits the driver.
        assert await reading == ""
        assert (pool.checkedout(), pool.overflow()) == (0, 0)
    finally:
        await engine.dispose()


async def test_a_statement_timeout_is_one_and_leaves_the_connection(database_url: str) -> None:
    engine = create_engine(database_url, statement_timeout_ms=50, pool_size=1, max_overflow=0)
    try:
        slow = DriverStatement("SELECT pg_sleep(5)", ())
        with pytest.raises(QueryCanceledError) as raised:
            await fetch_value(engine, slow, [])
        assert is_statement_timeout(raised.value)
        assert not is_unavailable(raised.value)
        quick = DriverStatement("SELECT 2", ())
        # The one connection of the pool serves again.
        assert await fetch_value(engine, quick, []) == 2
    finally:
        await engine.dispose()


async def test_a_long_statement_is_prepared_once(database_url: str) -> None:
    """asyncpg keeps statements up to 15 KiB by default: a wide compiled read past that
    was prepared again at every request (ten times the cost); the engines keep any."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    columns = ", ".join(f"{n} AS column_{n:05}" for n in range(1_500))
    sql = f"SELECT json_build_array(row_to_json(t))::text FROM (SELECT {columns}) AS t"
    assert len(sql) > 20_000
    try:
        for _ in range(3):
            assert await fetch_value(engine, DriverStatement(sql, ()), [])
        prepared = DriverStatement(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", ((None, sql),)
        )
        assert await fetch_value(engine, prepared, prepared.arguments({})) == 1
    finally:
        await engine.dispose()
