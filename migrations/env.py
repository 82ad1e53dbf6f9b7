"""Alembic environment: runs on a connection handed in by the app, or on DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

import models
from config import Settings
from models.search import managed_by_migrations
from resolvers.db import create_engine

target_metadata = models.metadata


def run_on_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # Autogenerate must not drop the FTS5 tables no model declares.
        include_name=managed_by_migrations,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    engine = create_engine(Settings.from_env().database_url)
    async with engine.begin() as connection:
        await connection.run_sync(run_on_connection)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")

given = context.config.attributes.get("connection")
if given is not None:
    run_on_connection(given)
else:
    asyncio.run(run_from_settings())
