"""Retention: deleting what the policy no longer keeps, in small transactions.

Expired rows go deepest table first (span links, then spans, then traces), a batch
of at most `batch_size` rows per transaction, so that no sweep holds a lock for
long however much it deletes: when a batch's rows go, everything they owned went
in earlier batches, and the cascade has nothing left to do. Chains inside a table
(a span's parent) are cut first, in batches too (see resolvers.ownership).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, and_, delete, select, true, tuple_, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from config import Settings
from models import Conversation, Message, PendingLogRecord, Span, Trace
from models.base import utcnow
from models.enums import ConversationStatus
from resolvers.analytics import score_rollups
from resolvers.analytics.usage_rollups import compact
from resolvers.context import Context
from resolvers.db import Database, SessionFactory
from resolvers.ingest.pending_logs import HELD_FOR
from resolvers.ownership import ROOT, Owned, owned_tables
from resolvers.writes.stale import fail_silent, mark_stale
from resolvers.writes.totals import USAGE, Usage, add_usage

if TYPE_CHECKING:
    from resolvers.publisher import Publisher

log = logging.getLogger(__name__)
# A progress line every this many batches of one table.
PROGRESS_EVERY = 10


@dataclass
class SweepReport:
    """What one sweep did: rows deleted and batches run, by table; sessions made STALE,
    and FAILED for their agent's silence."""

    deleted: Counter[str] = field(default_factory=Counter)
    batches: Counter[str] = field(default_factory=Counter)
    stale_sessions: int = 0
    failed_sessions: int = 0


@dataclass(frozen=True)
class Rule:
    """Keep `trace_days` / `archived_days` (0: for ever) for conversations of these owners."""

    owners: ColumnElement[bool]
    trace_days: int
    archived_days: int


def rules(settings: Settings) -> list[Rule]:
    """The default rule for everybody not overridden, then one rule per override."""
    overridden = [o.user_id for o in settings.retention_overrides]
    owner = col(Conversation.owner_id)
    others = owner.not_in(overridden) if overridden else true()
    found = [Rule(others, settings.retention_trace_days, settings.retention_archived_days)]
    for o in settings.retention_overrides:
        trace_days = settings.retention_trace_days if o.trace_days is None else o.trace_days
        archived = settings.retention_archived_days if o.archived_days is None else o.archived_days
        found.append(Rule(owner == o.user_id, trace_days, archived))
    return found


def _below(top: Table) -> list[Owned]:
    """The subgraph's tables under `top` (all of it under the conversations), deepest first."""

    def chain(owned: Owned | None) -> list[Table]:
        return [] if owned is None else [owned.table, *chain(owned.owner)]

    found = [o for o in owned_tables() if top is ROOT or top in chain(o.owner)]
    return sorted(found, key=lambda owned: -owned.depth)


def _under(owned: Owned, top: Table, top_ids: Any) -> ColumnElement[bool]:
    """Rows of `owned` under the rows of `top` whose ids `top_ids` selects."""
    owner_table = ROOT if owned.owner is None else owned.owner.table
    if owner_table is top:
        return owned.key.in_(top_ids)
    assert owned.owner is not None
    owner_key = next(iter(owned.key.foreign_keys)).column
    return owned.key.in_(select(owner_key).where(_under(owned.owner, top, top_ids)))


class Purge:
    """Deletes rows in batches of `size`, one transaction each, counting into `report`."""

    def __init__(self, sessions: SessionFactory, size: int, report: SweepReport) -> None:
        self.sessions, self.size, self.report = sessions, size, report

    async def tree(self, top: Table, condition: ColumnElement[bool]) -> None:
        """Rows of `top` matching `condition`, with everything under them."""
        top_ids = select(top.c.id).where(condition)
        for owned in _below(top):
            await self.table(owned.table, _under(owned, top, top_ids), owned.self_key)
        self_key = next((o.self_key for o in owned_tables() if o.table is top), None)
        await self.table(top, condition, self_key)

    async def table(self, table: Table, where: ColumnElement[bool], self_key: Any) -> None:
        if self_key is not None:
            linked = and_(where, self_key.is_not(None))
            await self._batches(
                table,
                linked,
                lambda rows: update(table).where(rows).values({self_key.name: None}),
                counted=False,
            )
        # Spans carry usage their conversation and trace count: each batch takes it back.
        before = release_usage if table is SPANS else None
        await self._batches(
            table, where, lambda rows: delete(table).where(rows), counted=True, before=before
        )

    async def _batches(
        self,
        table: Table,
        where: ColumnElement[bool],
        statement: Any,
        *,
        counted: bool,
        before: Callable[[AsyncSession, Any], Awaitable[None]] | None = None,
    ) -> None:
        key = list(table.primary_key.columns)
        done = batches = 0
        while True:
            # A row-value IN: span links and step dependencies have two-column keys.
            # Not correlated with the statement's own table: a batch is chosen first.
            batch = select(*key).where(where).limit(self.size).correlate(None)
            rows = tuple_(*key).in_(batch)
            async with self.sessions() as session, session.begin():
                if before is not None:
                    await before(session, rows)
                result = await session.exec(statement(rows))
            if not result.rowcount:
                break
            done, batches = done + result.rowcount, batches + 1
            if counted:
                self.report.deleted[table.name] += result.rowcount
                self.report.batches[table.name] += 1
                if batches % PROGRESS_EVERY == 0:
                    log.info("retention: %d %s deleted so far", done, table.name)
            if result.rowcount < self.size:
                break
        if counted and done:
            log.info("retention: %d %s deleted in %d batch(es)", done, table.name, batches)


SPANS: Table = Span.__table__  # type: ignore[attr-defined]


async def release_usage(session: AsyncSession, rows: ColumnElement[bool]) -> None:
    """The spans `rows` selects are about to go: their traces and conversations stop
    counting their usage, and a message one of them produced counts its own again (the
    model call happened; the message still shows it). In the deleting transaction."""
    usage = [col(getattr(Span, name)) for name in USAGE]
    spans_usage: Any = (
        select(col(Span.trace_id), col(Trace.conversation_id), *usage)
        .join(Trace, col(Trace.id) == col(Span.trace_id))
        .where(rows)
    )
    spans = await session.exec(spans_usage)
    by_trace: dict[uuid.UUID, Usage] = defaultdict(Usage)
    by_conversation: dict[uuid.UUID, Usage] = defaultdict(Usage)
    for trace_id, conversation_id, *used in spans.all():
        by_trace[trace_id] += -Usage(*used)
        by_conversation[conversation_id] += -Usage(*used)
    if not by_trace:
        return
    ids = select(col(Span.id)).where(rows)
    produced_usage: Any = select(
        col(Message.conversation_id), *(col(getattr(Message, n)) for n in USAGE)
    ).where(col(Message.span_id).in_(ids))
    produced = await session.exec(produced_usage)
    for conversation_id, *used in produced.all():
        by_conversation[conversation_id] += Usage(*used)
    await session.exec(
        update(Message)
        .where(col(Message.span_id).in_(ids))
        .values(span_id=None)
        .execution_options(synchronize_session=False)
    )
    await add_usage(session, Trace, by_trace, "trace")
    await add_usage(session, Conversation, by_conversation, "conversation")


async def apply_retention(ctx: Context) -> SweepReport:
    """Delete the traces and archived conversations the policy no longer keeps, and log
    records held for spans longer than they are (resolvers.ingest.pending_logs)."""
    settings = ctx.settings
    report = SweepReport()
    purge = Purge(ctx.session_factory, settings.retention_batch_size, report)
    now = utcnow()
    for rule in rules(settings):
        owned_by = select(col(Conversation.id)).where(rule.owners)
        if rule.archived_days > 0:
            expired = and_(
                ROOT.c.status == ConversationStatus.ARCHIVED,
                ROOT.c.archived_at < now - timedelta(days=rule.archived_days),
                rule.owners,
            )
            await purge.tree(ROOT, expired)
        if rule.trace_days > 0:
            old = and_(
                col(Trace.started_at) < now - timedelta(days=rule.trace_days),
                col(Trace.conversation_id).in_(owned_by),
            )
            await purge.tree(Trace.__table__, old)  # type: ignore[attr-defined]
    # Log records whose span never arrived: nothing will take them any more.
    held = col(PendingLogRecord.received_at) < now - HELD_FOR
    await purge.table(PendingLogRecord.__table__, held, None)  # type: ignore[attr-defined]
    return report


async def sweep(ctx: Context) -> SweepReport:
    """One pass of the sweeper: stale and silent agent sessions, retention, then the
    usage and score roll-ups' compaction."""
    settings = ctx.settings
    stale = failed = 0
    if settings.agent_wait_timeout_seconds > 0:
        stale = await mark_stale(ctx, settings.agent_wait_timeout_seconds)
    if settings.agent_stream_timeout_seconds > 0:
        failed = await fail_silent(ctx, settings.agent_stream_timeout_seconds)
    report = await apply_retention(ctx)
    report.stale_sessions, report.failed_sessions = stale, failed
    # After retention: its deletes appended negative roll-up rows to merge too.
    while await compact(ctx.session_factory):
        pass
    while await score_rollups.compact(ctx.session_factory):
        pass
    return report


async def run_sweeper(database: Database, settings: Settings, bus: Publisher | None) -> None:
    """The server's sweeper: a sweep every SWEEP_INTERVAL_SECONDS until cancelled."""
    while True:
        await asyncio.sleep(settings.sweep_interval_seconds)
        try:
            await sweep(Context.create(database, settings, bus))
        except Exception:
            # A failed sweep (the database restarting) is tried again at the next tick.
            log.exception("sweep failed; next in %ss", settings.sweep_interval_seconds)
