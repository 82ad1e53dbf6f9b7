"""Ingesting a batch of OTLP log records (GenAI events), in one transaction.

A record belongs to the span whose trace and span ids it carries. When that span is
stored already, the records join those it keeps and the span's history is written
again, as it would be had it carried them itself: the span is rebuilt from its row (with
its ancestors, whose user and agent it speaks for) and goes through the spans' own
message path (resolvers.ingest.spans), where every message is stored once. Otherwise
the records wait for it (resolvers.ingest.pending_logs).

Statements per batch, whatever its number of records: the lock, one read of the spans,
one INSERT of the records held, and for stored spans the message path's and one UPDATE
(executemany) of their attributes.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Span
from models.enums import ApiKeyScope, SpanStatus
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.events import record_many
from resolvers.ingest import log_records, participants, pending_logs, spans
from resolvers.ingest.batch import Mapped, Outcome
from resolvers.ingest.ids import span_row, trace_row
from resolvers.ingest.namespace import owner_namespace
from resolvers.ingest.otlp import IncomingRecord, IncomingSpan
from resolvers.json_limits import JsonLimits
from resolvers.principal import Principal
from resolvers.writes.transaction import transaction

Records = dict[uuid.UUID, list[dict[str, Any]]]  # by span row id


async def ingest_records(ctx: Context, incoming: list[IncomingRecord], outcome: Outcome) -> None:
    """Store what the records show, publish its events after commit; refusals go to
    `outcome` (records held for a span that never arrives count as accepted)."""
    principal = ctx.principal
    principal.require(ApiKeyScope.INGEST)
    limits = JsonLimits.of(ctx.settings)
    found = log_records.by_span(incoming, limits, outcome)
    if not found:
        return
    namespace = await owner_namespace(ctx.database, principal.user_id)
    traces = {trace: trace_row(namespace, trace) for trace, _ in found}
    rows = {(traces[t], span_row(traces[t], s)): kept for (t, s), kept in found.items()}
    records = {span_id: kept for (_, span_id), kept in rows.items()}
    async with transaction(ctx, ApiKeyScope.INGEST) as session:
        await pending_logs.lock_traces(session, traces.values(), exclusive=True)
        stored = await _with_ancestors(session, list(records))
        waiting = {key: kept for key, kept in rows.items() if key[1] not in stored}
        await pending_logs.hold(session, principal.user_id, waiting)
        applied = {span_id: kept for span_id, kept in records.items() if span_id in stored}
        if applied:
            hexes = {row: trace for trace, row in traces.items()}
            await _apply(session, principal, namespace, stored, hexes, applied, limits, outcome)
        await record_many(session, outcome.events)


async def _with_ancestors(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Span]:
    """The stored spans among `ids` and their ancestors, by id: one recursive query."""
    up = select(col(Span.id), col(Span.parent_span_id)).where(col(Span.id).in_(ids))
    tree = up.cte("up", recursive=True)
    parents = select(col(Span.id), col(Span.parent_span_id)).join(
        tree, col(Span.id) == tree.c.parent_span_id
    )
    tree = tree.union(parents)
    found = await session.exec(select(Span).where(col(Span.id).in_(select(tree.c.id))))
    return {span.id: span for span in found}


async def _apply(
    session: AsyncSession,
    principal: Principal,
    namespace: uuid.UUID,
    stored: dict[uuid.UUID, Span],
    hexes: dict[uuid.UUID, str],
    records: Records,
    limits: JsonLimits,
    outcome: Outcome,
) -> None:
    """Add the records to their stored spans, and write what the spans now show."""
    within = Outcome()
    rebuilt = spans.mapped(
        [_incoming(row, hexes[row.trace_id]) for row in stored.values() if row.external_id],
        namespace,
        limits,
        within,
    )
    changed = _ready(rebuilt, records, limits, outcome)
    batches = await spans.writable_batches(session, principal, namespace, rebuilt, within)
    kept = {m.id for b in batches for m in b.spans}
    for span_id, refused in records.items():
        if span_id not in kept:
            row = stored[span_id]
            outcome.refuse(len(refused), _reason(within, hexes[row.trace_id], row.external_id))
    cast = participants.cast(batches, principal)
    await spans.write_conversation(session, principal, batches, cast, limits, within)
    outcome.events.extend(within.events)
    await _keep_records(session, [m for m in changed if m.id in kept])


def _ready(
    rebuilt: list[Mapped], records: Records, limits: JsonLimits, outcome: Outcome
) -> list[Mapped]:
    """Ready the rebuilt spans for the message path: what they ran and said was written
    when they arrived; the messages their new records show are to write. The spans
    that keep more records now (records that do not fit are refused, and dropped
    from `records`)."""
    changed = []
    for m in rebuilt:
        m.facts.tool = None
        new = records.get(m.id)
        # An ancestor speaks for the span (its user, its agent) but says nothing new;
        # nor does a span sent its records again.
        attributes = None if new is None else log_records.with_records(m.span.attributes, new)
        if new is not None and attributes is not None:
            try:
                limits.check(f"span {m.span.span_id}.attributes", attributes)
            except BadInput as exc:
                outcome.refuse(len(records.pop(m.id)), f"log records of {exc.message}")
                attributes = None
        if attributes is None:
            m.facts.messages_in, m.facts.messages_out = [], []
            continue
        m.span.attributes = attributes
        log_records.show(m, limits)
        changed.append(m)
    return changed


def _incoming(row: Span, trace_hex: str) -> IncomingSpan:
    """A stored span as it was sent (its row keeps its attributes and its resource's
    together: both are looked up in them)."""
    assert row.external_id is not None
    attributes = dict(row.attributes)
    return IncomingSpan(
        trace_id=trace_hex,
        span_id=row.external_id,
        parent_id=row.external_parent_id,
        name=row.name,
        started_at=row.started_at,
        ended_at=row.ended_at or row.started_at,
        error=row.status == SpanStatus.ERROR,
        status_message=row.error,
        attributes=attributes,
        resource=attributes,
    )


def _reason(within: Outcome, trace_hex: str, span_hex: str | None) -> str:
    """Why the span took no records: what the spans' path said of it or of its trace."""
    names = (f"trace {trace_hex}", f"span {span_hex}")
    found = next((r for r in within.rejected if r.startswith(names)), None)
    return f"log records of {found or f'span {span_hex}: not written'}"


async def _keep_records(session: AsyncSession, changed: list[Mapped]) -> None:
    if not changed:
        return
    table: Any = Span.__table__  # type: ignore[attr-defined]
    await session.exec(
        update(table).where(table.c.id == bindparam("span")).values(attributes=bindparam("kept")),
        params=[{"span": m.id, "kept": m.span.attributes} for m in changed],
    )
