"""The conversation subgraph, read from the table metadata.

A table belongs to a conversation when a NOT NULL, ON DELETE CASCADE foreign key
leads from it, maybe through other such tables, to `conversations` (messages
directly, tool calls through messages, span links through spans and traces).
Deleting, exporting and expiring conversations walk this graph, so a table added
later is covered without being named here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

import models

ROOT: Table = models.Conversation.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Owned:
    """A table of the subgraph and the key that ties it to its owner, one step up."""

    table: Table
    key: Column[Any]  # holds the owner's id
    owner: Owned | None  # None: the owner is the conversation itself
    # A nullable key to another row of the same table (a message's parent), if any.
    self_key: Column[Any] | None

    @property
    def depth(self) -> int:
        return 1 if self.owner is None else 1 + self.owner.depth

    def within(self, conversation_ids: Any) -> ColumnElement[bool]:
        """Rows of this table in the conversations (a list of ids, or a SELECT of them)."""
        if self.owner is None:
            return self.key.in_(conversation_ids)
        owner_key = next(iter(self.key.foreign_keys)).column
        return self.key.in_(select(owner_key).where(self.owner.within(conversation_ids)))


def _owning_keys(table: Table) -> list[tuple[Column[Any], Table]]:
    keys = []
    for foreign_key in sorted(table.foreign_keys, key=lambda k: k.parent.name):
        cascades = (foreign_key.ondelete or "").upper() == "CASCADE"
        target = foreign_key.column.table
        if cascades and not foreign_key.parent.nullable and target is not table:
            keys.append((foreign_key.parent, target))
    return keys


def _self_key(table: Table) -> Column[Any] | None:
    for foreign_key in table.foreign_keys:
        if foreign_key.column.table is table:
            return foreign_key.parent
    return None


@cache
def owned_tables() -> tuple[Owned, ...]:
    """Every table of the subgraph, each by its shortest path, nearest the conversation first."""
    found: dict[Table, Owned] = {}
    level: dict[Table, Owned | None] = {ROOT: None}
    while level:
        below: dict[Table, Owned | None] = {}
        for table in models.metadata.sorted_tables:
            if table in found or table is ROOT:
                continue
            for key, target in _owning_keys(table):
                if target in level:
                    owned = Owned(table, key, level[target], _self_key(table))
                    found[table] = below[table] = owned
                    break
        level = below
    return tuple(sorted(found.values(), key=lambda owned: owned.depth))


async def unlink_self_references(session: AsyncSession, conversation_ids: Any) -> None:
    """Cut the chains inside the subgraph (a message's parent, a span's parent).

    SQLite runs each cascade as a trigger inside the one before, and stops past 1000
    levels: a conversation of 1000 messages, each replying to the one before, could
    not be deleted through the chain. PostgreSQL needs no help; both take it.
    """
    for owned in owned_tables():
        if owned.self_key is not None:
            await session.exec(
                update(owned.table)
                .where(owned.within(conversation_ids), owned.self_key.is_not(None))
                .values({owned.self_key.name: None})
            )


async def delete_conversations(session: AsyncSession, conversation_ids: Sequence[Any]) -> None:
    """Delete the conversations with everything they own, in the caller's transaction."""
    await unlink_self_references(session, conversation_ids)
    await session.exec(ROOT.delete().where(ROOT.c.id.in_(conversation_ids)))
