"""Writing a batch of OpenTelemetry spans: conversations, traces, span trees, events.

One transaction per batch, a few statements per batch (not per span): rows are
written with COPY (multi-row INSERTs on SQLite), and read back with one IN (...)
query per table.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Conversation, Participant, Span, Trace
from models.base import utcnow
from models.enums import (
    ConversationStatus,
    EventKind,
    ParticipantRole,
    ParticipantType,
    SpanStatus,
    TraceStatus,
)
from resolvers.access import visible
from resolvers.events import span_rows
from resolvers.ingest.batch import Mapped, Outcome, TraceBatch
from resolvers.ingest.ids import conversation_row
from resolvers.ingest.rows import insert_rows, write_rows
from resolvers.permissions import Access
from resolvers.principal import Principal
from resolvers.writes.totals import MAX_TOTAL, Usage, add_usage, totals_full
from resolvers.writes.traces import duration_ms


async def place_traces(
    session: AsyncSession,
    principal: Principal,
    namespace: uuid.UUID,
    by_trace: dict[uuid.UUID, list[Mapped]],
    outcome: Outcome,
) -> list[TraceBatch]:
    """Each trace with the conversation it belongs to (known traces keep theirs); traces
    the principal may not write to are refused."""
    known = await session.exec(select(Trace).where(col(Trace.id).in_(by_trace)))
    existing = {trace.id: trace for trace in known}
    writable = await _writable(session, Trace, principal, list(existing))
    batches = []
    for trace_id, spans in by_trace.items():
        trace = existing.get(trace_id)
        hex_id = spans[0].span.trace_id
        if trace is not None and trace.id not in writable:
            outcome.refuse(len(spans), f"trace {hex_id}: you may not write to its conversation")
            continue
        key = next((m.facts.conversation_key for m in spans if m.facts.conversation_key), None)
        conversation_id = (
            trace.conversation_id if trace else conversation_row(namespace, key, hex_id)
        )
        batches.append(TraceBatch(trace_id, hex_id, spans, conversation_id, trace))
    return batches


async def _writable(
    session: AsyncSession, model: Any, principal: Principal, ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    if not ids or principal.unrestricted:
        return set(ids)
    # Telemetry writes in anybody's name: only into conversations the principal owns.
    conditions = visible(model, principal, Access.MANAGE)
    found = await session.exec(select(col(model.id)).where(col(model.id).in_(ids), *conditions))
    return set(found)


async def open_conversations(
    session: AsyncSession, principal: Principal, batches: list[TraceBatch], outcome: Outcome
) -> list[TraceBatch]:
    """Create the conversations that do not exist yet, lock them all (in id order), and
    keep the traces whose conversation the principal may write to and is not closed."""
    wanted = {b.conversation_id: b for b in batches}
    created = await _create_conversations(session, principal, wanted)
    # Two columns, not Conversation objects: loading them into the session cost more
    # than the query.
    locked = await session.exec(
        select(col(Conversation.id), col(Conversation.status))
        .where(col(Conversation.id).in_(wanted))
        .order_by(col(Conversation.id))
        .with_for_update(key_share=True)
    )
    status = dict(locked.all())
    writable = await _writable(session, Conversation, principal, list(status))
    for conversation_id in created:
        outcome.event(conversation_id, EventKind.CONVERSATION_CREATED)
    kept = []
    for batch in batches:
        if batch.conversation_id not in writable:
            outcome.refuse(
                len(batch.spans),
                f"trace {batch.external_id}: the conversation is not yours to write to",
            )
        elif status[batch.conversation_id] == ConversationStatus.CLOSED:
            outcome.refuse(
                len(batch.spans), f"trace {batch.external_id}: the conversation is closed"
            )
        else:
            batch.new_conversation = batch.conversation_id in created
            kept.append(batch)
    return kept


async def _create_conversations(
    session: AsyncSession, principal: Principal, wanted: dict[uuid.UUID, TraceBatch]
) -> list[uuid.UUID]:
    now = utcnow()
    rows = []
    for conversation_id, batch in wanted.items():
        key = next(
            (m.facts.conversation_key for m in batch.spans if m.facts.conversation_key), None
        )
        meta = {"source": "opentelemetry", "conversationKey": key}
        rows.append(
            {
                "id": conversation_id,
                "owner_id": principal.user_id,
                "title": key or (batch.root or batch.spans[0]).span.name,
                "metadata": meta,
                "tags": [],
                "created_at": now,
                "updated_at": now,
                "last_activity_at": now,
            }
        )
    written = set(
        await insert_rows(
            session, Conversation, rows, ignore_duplicates=True, returning=Conversation.id
        )
    )
    created = [conversation_id for conversation_id in wanted if conversation_id in written]
    participants = []
    for conversation_id in created:
        participants.append(
            _participant(
                conversation_id, principal.user_id, ParticipantType.USER, ParticipantRole.OWNER
            )
        )
        if principal.agent_id:
            participants.append(
                _participant(
                    conversation_id,
                    principal.agent_id,
                    ParticipantType.AGENT,
                    ParticipantRole.MEMBER,
                )
            )
    await write_rows(session, Participant, participants)
    return created


def _participant(
    conversation_id: uuid.UUID, who: str, kind: ParticipantType, role: ParticipantRole
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "conversation_id": conversation_id,
        "participant_id": who,
        "participant_type": kind,
        "role": role,
        "active": True,
        "joined_at": utcnow(),
    }


async def drop_known_spans(session: AsyncSession, batches: list[TraceBatch]) -> None:
    """Spans already stored are sent again by a retrying exporter: they change nothing."""
    ids = [m.id for b in batches for m in b.spans]
    known = set((await session.exec(select(col(Span.id)).where(col(Span.id).in_(ids)))).all())
    for batch in batches:
        batch.spans = [m for m in batch.spans if m.id not in known]


async def write_traces(
    session: AsyncSession,
    batches: list[TraceBatch],
    agents: dict[uuid.UUID, str],
    outcome: Outcome,
) -> None:
    """New traces with their spans' usage and the agent each is a run of (`agents`, by
    trace: participants.Cast's); known traces and every conversation add the usage, and
    a known trace without an agent takes its agent."""
    new = [b for b in batches if b.existing is None]
    for batch in new:
        outcome.event(batch.conversation_id, EventKind.TRACE_STARTED, trace_id=batch.id)
    if any(b.usage.total_tokens > MAX_TOTAL for b in new):
        raise totals_full("trace")
    rows = [_trace_row(b, agents.get(b.id)) for b in new]
    await write_rows(session, Trace, rows)
    for batch in batches:
        if batch.existing is not None:
            await _update_trace(session, batch, agents.get(batch.id))
    used: dict[uuid.UUID, Usage] = defaultdict(Usage)
    for batch in batches:
        used[batch.conversation_id] += batch.usage
    await add_usage(session, Conversation, used, "conversation")


def trace_endings(batches: list[TraceBatch], outcome: Outcome) -> None:
    """TRACE_ENDED for the traces whose root span arrived: after everything they hold."""
    for batch in batches:
        root = batch.root
        if root is not None:
            status = TraceStatus.ERROR if root.span.error else TraceStatus.OK
            outcome.event(
                batch.conversation_id,
                EventKind.TRACE_ENDED,
                {"status": status.value},
                trace_id=batch.id,
            )


def _trace_row(batch: TraceBatch, agent_id: str | None) -> dict[str, Any]:
    first = min(batch.spans, key=lambda m: m.span.started_at)
    row = {
        "id": batch.id,
        "conversation_id": batch.conversation_id,
        "name": first.span.name,
        "started_at": first.span.started_at,
        "total_tokens": batch.usage.total_tokens,
        "cost": batch.usage.cost,
        "user_id": next((m.facts.user_id for m in batch.spans if m.facts.user_id), None),
        "session_id": next(
            (m.facts.conversation_key for m in batch.spans if m.facts.conversation_key), None
        ),
        "agent_id": agent_id,
        "external_id": batch.external_id,
        **_ending(batch),
    }
    return row


def _ending(batch: TraceBatch) -> dict[str, Any]:
    """The trace's end, once its root span (the one without a parent) arrived."""
    root = batch.root
    if root is None:
        return {
            "status": TraceStatus.RUNNING,
            "ended_at": None,
            "duration_ms": None,
            "user_input": None,
            "final_output": None,
        }
    span = root.span
    return {
        "name": span.name,
        "status": TraceStatus.ERROR if span.error else TraceStatus.OK,
        "ended_at": span.ended_at,
        "duration_ms": duration_ms(span.started_at, span.ended_at),
        "user_input": _text_of(root.facts.inputs),
        "final_output": _text_of(root.facts.outputs),
    }


def _text_of(io: dict[str, Any]) -> str | None:
    value = io.get("value")
    return value if isinstance(value, str) else None


async def _update_trace(session: AsyncSession, batch: TraceBatch, agent_id: str | None) -> None:
    """Add late spans to a known trace: its totals, its start, its agent if it had none,
    and its end once the root came."""
    assert batch.existing is not None
    await add_usage(session, Trace, {batch.id: batch.usage}, "trace")
    first = min(m.span.started_at for m in batch.spans)
    values: dict[str, Any] = {}
    if batch.existing.agent_id is None and agent_id is not None:
        values["agent_id"] = agent_id
    if first < batch.existing.started_at:
        values["started_at"] = first
    if batch.root is not None:
        values.update(_ending(batch))
    if values:
        await session.exec(
            update(Trace)
            .where(col(Trace.id) == batch.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def write_spans(session: AsyncSession, batches: list[TraceBatch], outcome: Outcome) -> None:
    """Insert the spans, parents first; link each to its parent when that is known, and
    link spans that waited for one of these as their parent."""
    spans = [m for b in batches for m in b.spans]
    in_batch = {m.id for m in spans}
    wanted = {m.parent_id for m in spans} - {None} - in_batch
    present = set(in_batch)
    if wanted:  # a batch of whole traces has no parent to look for: no round trip
        present.update(
            (await session.exec(select(col(Span.id)).where(col(Span.id).in_(wanted)))).all()
        )
    by_id = {m.id: m for m in spans}
    rows = [_span_row(m, present) for m in sorted(spans, key=lambda m: _depth(m, by_id))]
    await write_rows(session, Span, rows)
    await _adopt_orphans(session, [b for b in batches if b.existing is not None and b.spans])
    for batch in batches:
        # Each span's SPAN_STARTED and SPAN_ENDED, in the rows of the trace's spans; the
        # span rows hold the rest.
        started = [m.id for m in sorted(batch.spans, key=lambda m: m.span.started_at)]
        outcome.events += span_rows(batch.conversation_id, batch.id, started)


def _depth(m: Mapped, by_id: dict[uuid.UUID, Mapped]) -> int:
    """How many ancestors of the span are in the batch (which are inserted before it)."""
    depth, parent = 0, m.parent_id
    # Bounded: a cycle of parents (a malformed export) must not loop forever.
    while parent in by_id and depth < len(by_id):
        depth, parent = depth + 1, by_id[parent].parent_id
    return depth


def _status(m: Mapped) -> SpanStatus:
    return SpanStatus.ERROR if m.span.error else SpanStatus.OK


def _span_row(m: Mapped, present: set[uuid.UUID]) -> dict[str, Any]:
    parent = m.parent_id
    f, span = m.facts, m.span
    return {
        "id": m.id,
        "trace_id": m.trace_id,
        "parent_span_id": parent if parent in present else None,
        "kind": f.kind,
        "name": span.name,
        "status": _status(m),
        "error": f.error,
        "error_details": f.error_details,
        "started_at": span.started_at,
        "ended_at": span.ended_at,
        "duration_ms": duration_ms(span.started_at, span.ended_at),
        "inputs": f.inputs,
        "outputs": f.outputs,
        "attributes": {**span.resource, **span.attributes},
        "model": f.model,
        "provider": f.provider,
        "tool_name": f.tool.name if f.tool is not None else None,
        "input_tokens": m.usage.input_tokens,
        "cached_input_tokens": m.cached_input_tokens,
        "output_tokens": m.usage.output_tokens,
        "total_tokens": m.usage.total_tokens,
        "cost": m.usage.cost,
        "cost_source": m.charge.source,
        "price_id": m.charge.price_id,
        "external_id": span.span_id,
        "external_parent_id": span.parent_id,
    }


async def _adopt_orphans(session: AsyncSession, batches: list[TraceBatch]) -> None:
    """Spans stored before their parent get it now: one UPDATE for the whole batch."""
    if not batches:
        return
    parent = aliased(Span)
    found = (
        select(parent.id)
        .where(parent.trace_id == Span.trace_id, parent.external_id == Span.external_parent_id)
        .scalar_subquery()
    )
    arrived = [m.span.span_id for b in batches for m in b.spans]
    await session.exec(
        update(Span)
        .where(
            col(Span.trace_id).in_([b.id for b in batches]),
            col(Span.parent_span_id).is_(None),
            col(Span.external_parent_id).in_(arrived),
        )
        .values(parent_span_id=found)
        .execution_options(synchronize_session=False)
    )


def by_trace(spans: list[Mapped]) -> dict[uuid.UUID, list[Mapped]]:
    grouped: dict[uuid.UUID, list[Mapped]] = defaultdict(list)
    for m in spans:
        grouped[m.trace_id].append(m)
    return grouped
