"""Migration 0029 attributes the versions there are to their component's owner."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from migrations import alembic_config
from tests.models.test_migrations import at_revision

AT = datetime(2026, 3, 1, 12)


def tags(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def test_old_versions_were_registered_by_their_components_owner(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with at_revision(database_url, tmp_path_factory, "0028") as connection:
        for key, owner in (("owned", "ada"), ("orphan", None)):
            component = uuid.uuid4().hex
            await connection.execute(
                text(
                    "INSERT INTO components (id, key, type, name, owner_id, private, created_at,"
                    " version_count) VALUES (:id, :key, 'PROMPT', :key, :owner, false, :at, 1)"
                ),
                {"id": component, "key": key, "owner": owner, "at": AT},
            )
            await connection.execute(
                text(
                    "INSERT INTO component_versions (id, component_id, content_hash,"
                    " version_number, definition, created_at) VALUES (:id, :c, :h, 1, '{}', :at)"
                ),
                {"id": uuid.uuid4().hex, "c": component, "h": key, "at": AT},
            )
        await connection.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
        found = await connection.execute(
            text(
                "SELECT content_hash, created_by_id, created_by_type, tags, version_name,"
                " deprecated_at FROM component_versions ORDER BY content_hash"
            )
        )
        # JSONB comes back parsed, SQLite's JSON as text.
        rows = [(*row[:3], tags(row[3]), *row[4:]) for row in found]
        assert rows == [
            ("orphan", None, None, [], None, None),
            ("owned", "ada", "USER", [], None, None),
        ]
