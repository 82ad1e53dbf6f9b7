"""The Alembic migrations build exactly the tables the models declare."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from starlette.applications import Starlette

import models
from migrations import alembic_config
from models.search import managed_by_migrations


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
