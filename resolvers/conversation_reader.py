"""A conversation's rows read in keyset batches, in one snapshot: what the export
document (resolvers.export) and the Markdown transcript (resolvers.transcript) are
written from, whether they are streamed over HTTP or answered whole in GraphQL.

Every statement reads at most BATCH_SIZE rows (or walks BATCH_SIZE messages of a
branch), so memory and each statement stay bounded whatever the conversation's size.
All of a stream's statements see one snapshot (REPEATABLE READ on PostgreSQL, SQLite's
read transaction in WAL mode): a row written meanwhile cannot leave a child in the
document whose parent is not.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
from sqlalchemy import (
    ColumnElement,
    Executable,
    Integer,
    Result,
    Select,
    and_,
    func,
    inspect,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession as RowSession
from sqlmodel import SQLModel, col

from models import Conversation, Message
from resolvers.access import visible
from resolvers.context import Context
from resolvers.db import Database
from resolvers.errors import NotFound, ThreadlineError
from resolvers.json_limits import truncated
from resolvers.principal import Principal
from resolvers.reads import parent_of_step

# Rows a statement reads, and messages of a branch a statement walks.
BATCH_SIZE = 1000

Row = dict[str, Any]


class TooLarge(ThreadlineError):
    """More rows than the reader may hold (the GraphQL fields answer whole documents)."""

    code = "TOO_LARGE"


@asynccontextmanager
async def snapshot(database: Database) -> AsyncIterator[RowSession]:
    """A read session whose statements all see one snapshot."""
    async with database.row_sessions() as session:
        if database.engine.dialect.name == "postgresql":
            # The reads engine autocommits each statement (resolvers.db.Database.from_url).
            level = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
            await session.connection(execution_options=level)
        yield session


@asynccontextmanager
async def reading(
    ctx: Context, conversation_id: uuid.UUID, max_rows: int | None = None
) -> AsyncIterator[ConversationReader]:
    """A reader of the conversation for the context's principal, in a snapshot of its own."""
    async with snapshot(ctx.database) as session:
        depth = ctx.settings.max_json_depth
        yield ConversationReader(session, ctx.principal, conversation_id, depth, max_rows)


def json_row(row: SQLModel, depth: int) -> Row:
    """The row as its model dumps it to JSON, its JSON values (objects and arrays,
    JSON already) cut at `depth` levels and not dumped: pydantic might refuse them."""
    values = {name: getattr(row, name) for name in type(row).model_fields}
    nested = {name for name, value in values.items() if isinstance(value, dict | list)}
    dumped = row.model_dump(mode="json", exclude=nested)
    return {
        name: truncated(value, depth) if name in nested else dumped[name]
        for name, value in values.items()
    }


def _after(columns: Sequence[Any], key: Sequence[Any]) -> ColumnElement[bool]:
    """Rows whose primary key (`columns`) sorts after `key`. Spelled out rather than as a
    row-value comparison, which the planners do not always match to the key's index."""
    first, *rest = columns
    if not rest:
        return first > key[0]
    return or_(first > key[0], and_(first == key[0], _after(rest, key[1:])))


@dataclass
class ConversationReader:
    """Reads one conversation for `principal` in `session` (a snapshot), as JSON rows.

    `max_rows` (None: no bound) is how many rows it may return in all before it raises
    TooLarge: for readers whose caller keeps every row.
    """

    session: RowSession
    principal: Principal
    conversation_id: uuid.UUID
    json_depth: int
    max_rows: int | None = None
    rows_read: int = field(default=0, init=False)

    async def conversation(self) -> Row:
        """The conversation's row; NOT_FOUND alike when it does not exist or is not the
        principal's to see."""
        seen = [
            col(Conversation.id) == self.conversation_id,
            *visible(Conversation, self.principal),
        ]
        found = (await self.execute(select(Conversation).where(*seen))).scalar()
        if found is None:
            raise NotFound(f"no conversation {self.conversation_id}")
        return self._counted([found])[0]

    async def batches(self, statement: Select[Any]) -> AsyncIterator[list[Row]]:
        """The rows of `statement` (a select of one model) in primary key order, a batch a
        statement; at least one batch, maybe empty."""
        model = statement.column_descriptions[0]["entity"]
        key = list(inspect(model).primary_key)
        page = statement.order_by(*key).limit(BATCH_SIZE)
        found = await self.rows(page)
        yield found.json
        while len(found.models) == BATCH_SIZE:
            last = inspect(found.models[-1]).identity
            found = await self.rows(page.where(_after(key, last)))
            yield found.json

    async def rows(self, statement: Select[Any]) -> Found:
        """The models `statement` selects (at most BATCH_SIZE, as the caller bounds it)."""
        models = list((await self.execute(statement)).scalars())
        return Found(models, self._counted(models))

    async def pairs(self, statement: Select[Any, Any]) -> dict[Any, Any]:
        return {first: second for first, second in await self.execute(statement)}

    async def execute(self, statement: Executable) -> Result[*tuple[Any, ...]]:
        """The statement's rows. A client that goes away cancels its stream: that lands
        here, between two statements, never inside one, which would cost its connection
        (SQLAlchemy terminates it; an aiosqlite one hangs in its close). Each statement
        is short: a batch, under the statement timeout."""
        await anyio.lowlevel.checkpoint()
        with anyio.CancelScope(shield=True):
            found = await self.session.execute(statement)
        return found

    def _counted(self, models: Sequence[SQLModel]) -> list[Row]:
        self.rows_read += len(models)
        if self.max_rows is not None and self.rows_read > self.max_rows:
            message = f"the conversation holds more than {self.max_rows} rows"
            raise TooLarge(message, maxRows=self.max_rows)
        return [json_row(model, self.json_depth) for model in models]


@dataclass(frozen=True)
class Found:
    models: list[SQLModel]
    json: list[Row]


# --- The latest branch ---------------------------------------------------------
# The latest message (highest seq) is a leaf, so the latest branch is the path from it
# up to the root (resolvers.reads says the same). Walked BATCH_SIZE messages a
# statement: once up, keeping only where each segment starts, then down again, a
# segment a statement in seq order.


def _walk_up(start_id: uuid.UUID, steps: int) -> Any:
    """The first `steps` messages of the path from `start_id` up to its root, as a
    recursive CTE of (id, parent_message_id, depth). Each step looks the parent up by
    its primary key, as resolvers.reads.path_to_root does, and for its reason."""
    first = select(
        col(Message.id), col(Message.parent_message_id), literal(1, Integer).label("depth")
    )
    path = first.where(col(Message.id) == start_id).cte("walk_up", recursive=True)
    step = select(path.c.parent_message_id, parent_of_step(path), path.c.depth + 1).where(
        path.c.parent_message_id.is_not(None), path.c.depth < steps
    )
    return path.union_all(step)


@dataclass(frozen=True)
class Branch:
    """Where each segment of the latest branch starts (nearest the leaf first), and how
    many messages it has; a conversation with no messages has none."""

    starts: list[uuid.UUID]
    length: int


async def latest_branch(reader: ConversationReader) -> Branch:
    leaf = (
        select(col(Message.id))
        .where(col(Message.conversation_id) == reader.conversation_id)
        .order_by(col(Message.seq).desc())
        .limit(1)
    )
    start: uuid.UUID | None = (await reader.execute(leaf)).scalar()
    starts, length = [], 0
    while start is not None:
        starts.append(start)
        walk = _walk_up(start, BATCH_SIZE)
        end = select(walk.c.depth, walk.c.parent_message_id).order_by(walk.c.depth.desc()).limit(1)
        depth, parent = (await reader.execute(end)).one()
        length += depth
        start = parent if depth == BATCH_SIZE else None
    return Branch(starts, length)


async def branch_segments(reader: ConversationReader, branch: Branch) -> AsyncIterator[list[Row]]:
    """The branch's messages from the root down, a segment (a statement) at a time."""
    for start in reversed(branch.starts):
        walk = _walk_up(start, BATCH_SIZE)
        on_walk = col(Message.id).in_(select(walk.c.id))
        found = await reader.rows(select(Message).where(on_walk).order_by(col(Message.seq)))
        yield found.json


async def message_count(reader: ConversationReader) -> int:
    counted = select(func.count()).where(col(Message.conversation_id) == reader.conversation_id)
    return int((await reader.execute(counted)).scalar_one())
