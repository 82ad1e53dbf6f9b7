"""Each user's namespace of ingested ids, keyed by a secret of the installation.

Ids derived from a user's id and the names their telemetry carries (a session id, a
trace id) alone could be computed by anybody, who could then take them first (with a
client-chosen id) and have the user's telemetry refused, or probe which sessions the
user has sent. The installation's secret, made once and kept in the database, makes
them unguessable while keeping them stable across processes and restarts.
"""

from __future__ import annotations

import secrets
import uuid

from sqlmodel import col, select

from models import InstallationSecret
from resolvers.db import Database
from resolvers.ingest import ids
from resolvers.writes.transaction import insert_ignoring_duplicates

SECRET = "ingest-namespace"
# By engine URL: read once per process.
_known: dict[str, str] = {}


async def owner_namespace(database: Database, owner_id: str) -> uuid.UUID:
    return ids.owner_namespace(await _secret(database), owner_id)


async def _secret(database: Database) -> str:
    url = str(database.engine.url)
    found = _known.get(url)
    if found is None:
        async with database.sessions() as session, session.begin():
            # Made by migration 0008; made here too should it ever be missing.
            made = secrets.token_hex(32)
            await session.exec(
                insert_ignoring_duplicates(session, InstallationSecret, name=SECRET, value=made)
            )
            stored = await session.exec(
                select(col(InstallationSecret.value)).where(col(InstallationSecret.name) == SECRET)
            )
            found = _known[url] = stored.one()
    return found
