"""Alembic migrations, and the helper that applies them from a running app."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.db import without_statement_timeout

# This package holds env.py and versions/, in a checkout and in an installed wheel alike.
SCRIPT_LOCATION = Path(__file__).resolve().parent
log = logging.getLogger("threadline.migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built here rather than read from alembic.ini (which stays
    at the checkout's root for the `alembic` command line), so that an installed package
    needs no file outside itself."""
    config = Config()
    # Option values go through configparser's interpolation: a literal % is written %%.
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
    def run(connection: Connection) -> None:
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection), "head")
        after = MigrationContext.configure(connection).get_current_revision()
        # One line for the whole upgrade: Alembic's own (configure_logging quiets them)
        # are two a migration, 60 lines on a first run.
        if after != before:
            log.info("database migrated from %s to %s", before or "an empty schema", after)

    # A migration may rewrite a large table: no request's statement timeout applies.
    async with engine.begin() as connection, without_statement_timeout(connection):
        await connection.run_sync(run)
