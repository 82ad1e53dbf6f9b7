"""A conversation's whole subgraph as one JSON document, and as a Markdown transcript.

The document holds, by table name, every row the conversation owns (see
resolvers.ownership) and the shared component versions its spans used, each row
as its model dumps it to JSON. Not exported: the event log (an import starts a
log of its own) and derived tables (the search index, rebuilt by triggers).
`importConversation` (resolvers.writes.imports) reads it back.

A JSON value stored before MAX_JSON_DEPTH existed may nest deeper than it (pydantic
refuses to serialise one past 255 levels, and importConversation would refuse it):
each is exported cut at the limit (resolvers.json_limits.truncated).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, select
from sqlmodel import SQLModel, col

from models import (
    Component,
    ComponentVersion,
    Conversation,
    Event,
    SpanComponentVersion,
    TraceVersion,
)
from resolvers.access import visible
from resolvers.context import Context
from resolvers.json_limits import truncated
from resolvers.ownership import ROOT, owned_tables

FORMAT = "threadline.conversation"
VERSION = 1
# Owned, but not exported: the event log, and rows derived from others by the database.
NOT_EXPORTED = frozenset({Event.__tablename__, "search_documents", TraceVersion.__tablename__})
# Where a row's values sit in the document: document -> tables -> a table's rows -> a row.
ROW_VALUES_DOWN = 4


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


def _json_rows(rows: Any, depth: int) -> list[dict[str, Any]]:
    return [_json_row(row, depth) for row in rows]


def _json_row(row: SQLModel, depth: int) -> dict[str, Any]:
    """The row as its model dumps it to JSON, its JSON values (objects and arrays,
    JSON already) cut at `depth` levels and not dumped: pydantic might refuse them."""
    values = {name: getattr(row, name) for name in type(row).model_fields}
    nested = {name for name, value in values.items() if isinstance(value, dict | list)}
    dumped = row.model_dump(mode="json", exclude=nested)
    return {
        name: truncated(value, depth) if name in nested else dumped[name]
        for name, value in values.items()
    }


async def export_document(ctx: Context, conversation_id: uuid.UUID) -> dict[str, Any] | None:
    """The document, or None when the caller may not see the conversation."""
    if await ctx.loaders.by_id(Conversation).load(conversation_id) is None:
        return None
    tables: dict[str, list[dict[str, Any]]] = {}
    depth = ctx.settings.max_json_depth
    async with ctx.database.row_sessions() as session:
        for table in exported_tables():
            model = model_of(table)
            owned = next((o for o in owned_tables() if o.table is table), None)
            where = owned.within([conversation_id]) if owned else table.c.id == conversation_id
            order = list(table.primary_key.columns)
            found = await session.execute(select(model).where(where).order_by(*order))
            tables[table.name] = _json_rows(found.scalars(), depth)
        # The shared rows the subgraph points at: its spans' versions, and their components,
        # those the caller may see (another user's private versions stay out, links too).
        for model, rows, key in (
            (ComponentVersion, SpanComponentVersion.__tablename__, "component_version_id"),
            (Component, ComponentVersion.__tablename__, "component_id"),
        ):
            ids = {uuid.UUID(row[key]) for row in tables.get(rows, [])}
            seen = [col(model.id).in_(ids), *visible(model, ctx.principal)]
            found = await session.execute(select(model).where(*seen).order_by(col(model.id)))
            tables[model.__tablename__] = _json_rows(found.scalars(), depth)
            kept = {row["id"] for row in tables[model.__tablename__]}
            tables[rows] = [row for row in tables.get(rows, []) if row[key] in kept]
    return {
        "format": FORMAT,
        "version": VERSION,
        "conversationId": str(conversation_id),
        "tables": tables,
    }
