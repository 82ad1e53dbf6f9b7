"""A conversation's whole subgraph as one JSON document.

The document holds, by table name, every row the conversation owns (see
resolvers.ownership) and the shared component versions its spans used, each row
as its model dumps it to JSON. Not exported: the event log (an import starts a
log of its own) and derived tables (the search index, rebuilt by triggers).
`importConversation` (resolvers.writes.imports) reads it back.

`table_batches` reads it in keyset batches (resolvers.conversation_reader): streamed as
it is read by GET /conversations/{id}/export, or gathered whole by `export_document`.

A JSON value stored before MAX_JSON_DEPTH existed may nest deeper than it (pydantic
refuses to serialise one past 255 levels, and importConversation would refuse it):
each is exported cut at the limit (resolvers.json_limits.truncated).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, Table, select
from sqlmodel import SQLModel, col

from models import (
    Component,
    ComponentVersion,
    Event,
    SpanComponentVersion,
    TraceVersion,
)
from resolvers.access import visible
from resolvers.context import Context
from resolvers.conversation_reader import ConversationReader, Row, reading
from resolvers.errors import NotFound
from resolvers.ownership import ROOT, owned_tables
from resolvers.principal import Principal

FORMAT = "threadline.conversation"
VERSION = 1
# Owned, but not exported: the event log, and rows derived from others by the database.
NOT_EXPORTED = frozenset({Event.__tablename__, "search_documents", TraceVersion.__tablename__})
# Where a row's values sit in the document: document -> tables -> a table's rows -> a row.
ROW_VALUES_DOWN = 4
LINKS: Table = SpanComponentVersion.__table__  # type: ignore[attr-defined]


def model_of(table: Table) -> type[SQLModel]:
    for mapper in SQLModel._sa_registry.mappers:
        if mapper.local_table is table:
            found: type[SQLModel] = mapper.class_
            return found
    raise LookupError(table.name)


def exported_tables() -> list[Table]:
    """The conversation, then the tables it owns, nearest first (parents before children)."""
    owned = [o.table for o in owned_tables() if o.table.name not in NOT_EXPORTED]
    return [ROOT, *owned]


def header(conversation_id: uuid.UUID) -> dict[str, Any]:
    """The document but its tables."""
    return {"format": FORMAT, "version": VERSION, "conversationId": str(conversation_id)}


def _owned_queries(conversation_id: uuid.UUID) -> dict[str, Select[Any]]:
    """The rows of each exported table the conversation owns, by table name, in
    document order (the conversation's own row is read first, apart)."""
    return {
        owned.table.name: select(model_of(owned.table)).where(owned.within([conversation_id]))
        for owned in owned_tables()
        if owned.table.name not in NOT_EXPORTED
    }


def _queries(conversation_id: uuid.UUID, principal: Principal) -> dict[str, Select[Any]]:
    """Every exported table's query, in document order: the owned tables, then the shared
    rows the subgraph points at (its spans' versions, and their components) that the
    principal may see; another user's private versions stay out, their links too."""
    queries = _owned_queries(conversation_id)
    linked = queries[LINKS.name].with_only_columns(col(SpanComponentVersion.component_version_id))
    versions = select(col(ComponentVersion.id)).where(
        col(ComponentVersion.id).in_(linked), *visible(ComponentVersion, principal)
    )
    seen_links = col(SpanComponentVersion.component_version_id).in_(versions)
    queries[LINKS.name] = queries[LINKS.name].where(seen_links)
    queries[ComponentVersion.__tablename__] = select(ComponentVersion).where(
        col(ComponentVersion.id).in_(versions)
    )
    components = select(col(ComponentVersion.component_id)).where(
        col(ComponentVersion.id).in_(versions)
    )
    queries[Component.__tablename__] = select(Component).where(
        col(Component.id).in_(components), *visible(Component, principal)
    )
    return queries


async def table_batches(reader: ConversationReader) -> AsyncIterator[tuple[str, list[Row]]]:
    """(table name, rows) in document order, each table's rows in batches; every table
    at least once (maybe with no rows). NOT_FOUND before anything when the principal
    may not see the conversation."""
    yield ROOT.name, [await reader.conversation()]
    for name, query in _queries(reader.conversation_id, reader.principal).items():
        async for batch in reader.batches(query):
            yield name, batch


async def export_document(
    ctx: Context, conversation_id: uuid.UUID, max_rows: int | None = None
) -> dict[str, Any] | None:
    """The whole document, or None when the caller may not see the conversation; past
    `max_rows` rows, TOO_LARGE."""
    tables: dict[str, list[Row]] = {}
    async with reading(ctx, conversation_id, max_rows) as reader:
        try:
            async for name, rows in table_batches(reader):
                tables.setdefault(name, []).extend(rows)
        except NotFound:
            return None
    return {**header(conversation_id), "tables": tables}
