"""Test databases on the PostgreSQL server named by a URL: created fresh, dropped after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url


async def admin_connection(url: str) -> asyncpg.Connection:
    """A plain asyncpg connection to the database of an SQLAlchemy URL."""
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=parsed.database or "postgres",
    )


async def terminate_connections(url: str, application_name: str) -> int:
    """Have the server of `url` close every connection of `application_name`; how many."""
    admin = await admin_connection(url)
    try:
        killed: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1",
            application_name,
        )
        return killed
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_database(url: str, prefix: str = "threadline_test") -> AsyncIterator[str]:
    """A new, empty database on the server of `url` (an SQLAlchemy URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await admin_connection(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
