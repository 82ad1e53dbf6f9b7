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

from sqlalchemy import Column, ColumnElement, Table, and_, delete, select, tuple_, update
from sqlmodel.ext.asyncio.session import AsyncSession

import models

ROOT: Table = models.Conversation.__table__  # type: ignore[attr-defined]
# Rows a statement deletes (or unlinks): its cascades, the foreign keys it sets to NULL
# and the roll-up triggers it fires stay far below the statement timeout, and its ids
# well under the bind-parameter limits of SQLite and asyncpg.
CHUNK = 500


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


async def delete_conversations(session: AsyncSession, conversation_ids: Sequence[Any]) -> None:
    """Delete the conversations with everything they own, in the caller's transaction.

    The statement timeout bounds each statement, not the transaction, so no statement
    may grow with the conversation:
    - the rows are found from the top down, each table's by its owners' ids, CHUNK
      owners a statement (`owned_keys`): found in one statement through the chain of
      its owners, a huge trace's span links were 20,000 random index lookups, past
      10 s with a cold cache at 5M spans;
    - the deepest tables go first, CHUNK rows a statement (one statement cascading
      through 20,000 messages and a trace of 20,000 spans ran for seconds);
    - the conversations' own rows go last; their cascade finds nothing left but what a
      writer added meanwhile.
    """
    found = await owned_keys(session, conversation_ids)
    for owned in reversed(owned_tables()):
        await delete_rows(session, owned.table, found[owned.table])
    await session.exec(ROOT.delete().where(ROOT.c.id.in_(conversation_ids)))


async def owned_keys(
    session: AsyncSession, conversation_ids: Sequence[Any]
) -> dict[Table, list[Sequence[Any]]]:
    """The primary keys of every owned table's rows in the conversations, each table's
    read by its owners' ids (owners first: owned_tables' order), CHUNK at a time."""
    found: dict[Table, list[Sequence[Any]]] = {ROOT: [(i,) for i in conversation_ids]}
    for owned in owned_tables():
        owner = ROOT if owned.owner is None else owned.owner.table
        referenced = next(iter(owned.key.foreign_keys)).column
        # Owners' keys are single ids (no owner has a composite key: checked here).
        assert list(owner.primary_key.columns) == [referenced], owned.table.name
        ids = [key[0] for key in found[owner]]
        keys: list[Sequence[Any]] = []
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            rows: Any = select(*owned.table.primary_key.columns).where(owned.key.in_(chunk))
            keys += (await session.exec(rows)).all()
        found[owned.table] = keys
    return found


async def delete_rows(session: AsyncSession, table: Table, keys: Sequence[Sequence[Any]]) -> None:
    """Delete the rows of `table` whose primary keys are `keys`, CHUNK a statement.

    A chain inside the table (a message's parent) is cut first: a row would take the
    rest of its chain with it, in one cascade of any length. SQLite, which runs each
    cascade as a trigger inside the one before and stops past 1000 levels, could not
    delete a conversation of 1000 messages each replying to the one before.
    """
    chunks = [keys[start : start + CHUNK] for start in range(0, len(keys), CHUNK)]
    self_key = _self_key(table)
    if self_key is not None:
        for chunk in chunks:
            linked = and_(_among(table, chunk), self_key.is_not(None))
            await session.exec(update(table).where(linked).values({self_key.name: None}))
    for chunk in chunks:
        await session.exec(delete(table).where(_among(table, chunk)))


def _among(table: Table, keys: Sequence[Sequence[Any]]) -> ColumnElement[bool]:
    columns = list(table.primary_key.columns)
    if len(columns) == 1:
        return columns[0].in_([key[0] for key in keys])
    # Span links and step dependencies have two-column keys.
    return tuple_(*columns).in_([tuple(key) for key in keys])
