"""The Alembic migrations build exactly the tables the models declare."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from starlette.applications import Starlette

import models
from models.search import managed_by_migrations


async def test_migrated_database_matches_the_models(app: Starlette) -> None:
    def differences(connection: Connection) -> list[Any]:
        # The FTS5 index (models/search.py) is declared by the migration alone.
        opts = {"compare_type": True, "include_name": managed_by_migrations}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, models.metadata))

    async with app.state.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
