"""Alembic migrations, and the helper that applies them from a running app."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.db import without_statement_timeout

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "head")

    # A migration may rewrite a large table: no request's statement timeout applies.
    async with engine.begin() as connection, without_statement_timeout(connection):
        await connection.run_sync(run)
