"""One transaction per mutation, and the lookups every mutation starts with."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Message
from models.enums import ApiKeyScope
from resolvers.access import visible
from resolvers.context import Context
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.events import pending
from resolvers.ids import to_global_id
from resolvers.pricing.prices import PRICE_FILE
from resolvers.principal import Principal

log = logging.getLogger(__name__)
RowT = TypeVar("RowT")
PRINCIPAL = "threadline_principal"


@asynccontextmanager
async def transaction(
    ctx: Context, scope: ApiKeyScope = ApiKeyScope.WRITE
) -> AsyncIterator[AsyncSession]:
    """Commit on success; roll back on any error, so a failed mutation writes nothing.
    After commit, publish the events the transaction recorded. The caller needs
    `scope` (INGEST for ingestion).

    Checks run before writing, so an integrity error here is a race with another
    writer (the same client id or key written twice at once): a CONFLICT.
    """
    if ctx.batch_session is not None:
        # One item of a bulk `ingest`, which checked its INGEST scope, holds the
        # transaction (a savepoint per item) and publishes the events once it commits.
        yield ctx.batch_session
        return
    ctx.principal.require(scope)
    try:
        async with ctx.session_factory() as session, session.begin():
            # Who writes: every lookup below sees only what this principal may see.
            session.info[PRINCIPAL] = ctx.principal
            # What it prices model calls with (resolvers.pricing).
            session.info[PRICE_FILE] = ctx.settings.prices
            yield session
    except IntegrityError as exc:
        raise conflict(exc) from None
    # Committed: now, and only now, the events it recorded can be announced.
    ctx.commits += 1
    committed = pending(session)
    ctx.counters.committed(committed)
    if ctx.bus is not None and committed:
        await ctx.bus.publish(committed)


def conflict(exc: IntegrityError) -> Conflict:
    log.info("integrity error turned into CONFLICT: %s", exc.orig)
    return Conflict("the write conflicts with a concurrent write of the same id or key")


def writer(session: AsyncSession) -> Principal:
    principal: Principal = session.info[PRINCIPAL]
    return principal


async def get_or_404(
    session: AsyncSession, model: type[RowT], row_id: uuid.UUID, *, lock: bool = False
) -> RowT:
    """The row, or NOT_FOUND, also when the writer may not see it (as for reads, so
    that nobody learns what exists elsewhere). With `lock`, the row is locked until
    commit and read afresh, so a check made on it holds when the write lands."""
    conditions = visible(model, writer(session))
    statement = select(model).where(model.id == row_id, *conditions)  # type: ignore[attr-defined]
    if lock:
        # NO KEY UPDATE: foreign-key checks of concurrent inserts (KEY SHARE) still pass.
        statement = statement.with_for_update(key_share=True).execution_options(
            populate_existing=True
        )
    row = (await session.exec(statement)).first()
    if row is None:
        raise NotFound(f"{model.__name__} '{to_global_id(model.__name__, row_id)}' does not exist")
    return row


async def message_in(
    session: AsyncSession, message_id: uuid.UUID, conversation_id: uuid.UUID, role: str
) -> Message:
    """The message, which must belong to the conversation being written (`role` names it)."""
    message = await get_or_404(session, Message, message_id)
    if message.conversation_id != conversation_id:
        raise BadInput(f"{role} belongs to another conversation")
    return message


async def existing_client_row(
    session: AsyncSession, model: type[RowT], row_id: uuid.UUID | None, **same: Any
) -> RowT | None:
    """The row a retried create already wrote, or None for a new id.

    The same id under another parent is somebody else's row: CONFLICT. An id taken by
    a row the writer cannot see is NOT_FOUND, as any reference to that row would be:
    a CONFLICT would tell them the row exists.
    """
    if row_id is None:
        return None
    conditions = visible(model, writer(session))
    seen = and_(true(), *conditions)
    found = await session.exec(select(model, seen).where(model.id == row_id))  # type: ignore[attr-defined]
    row, visible_to_writer = found.first() or (None, False)
    if row is None:
        return None
    if not visible_to_writer:
        raise NotFound(f"{model.__name__} '{to_global_id(model.__name__, row_id)}' does not exist")
    for attribute, value in same.items():
        if getattr(row, attribute) != value:
            raise Conflict(f"id '{row_id}' is already used by another {model.__name__}")
    return row


def insert_ignoring_duplicates(session: AsyncSession, model: Any, /, **values: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING, spelled for the session's database."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model).values(**values).on_conflict_do_nothing()


def when(value: datetime | None, default: datetime) -> datetime:
    return default if value is None else value
