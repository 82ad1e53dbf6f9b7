"""Ingesting a batch of OpenTelemetry spans, in one transaction."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from models.enums import ApiKeyScope
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.events import record_many
from resolvers.ingest import costs, messages, participants, pending_logs, traces
from resolvers.ingest.batch import Mapped, Outcome, TraceBatch, counted_usage
from resolvers.ingest.ids import span_row, trace_row
from resolvers.ingest.mapping import facts
from resolvers.ingest.namespace import owner_namespace
from resolvers.ingest.otlp import IncomingSpan
from resolvers.json_limits import JsonLimits
from resolvers.principal import Principal
from resolvers.writes.transaction import transaction


def mapped(
    incoming: list[IncomingSpan], namespace: uuid.UUID, limits: JsonLimits, outcome: Outcome
) -> list[Mapped]:
    """The spans that can be stored, once each (the last copy of a span sent twice wins)."""
    found: dict[tuple[str, str], Mapped] = {}
    trace_ids: dict[str, uuid.UUID] = {}
    for span in incoming:
        try:
            meaning = facts(span, limits)
        except BadInput as exc:
            outcome.refuse(1, exc.message)
            continue
        trace_id = trace_ids.get(span.trace_id)
        if trace_id is None:
            trace_id = trace_ids[span.trace_id] = trace_row(namespace, span.trace_id)
        parent = span_row(trace_id, span.parent_id) if span.parent_id else None
        found[(span.trace_id, span.span_id)] = Mapped(
            span,
            meaning,
            span_row(trace_id, span.span_id),
            trace_id,
            parent,
            counted_usage(meaning),
        )
    return list(found.values())


async def ingest_spans(ctx: Context, incoming: list[IncomingSpan], outcome: Outcome) -> None:
    """Store what the spans show, publish its events after commit; refusals go to `outcome`.

    Spans are conversations' traces: a trace goes to the conversation its spans name
    (gen_ai.conversation.id, session.id), created for the caller when unknown.
    """
    principal = ctx.principal
    principal.require(ApiKeyScope.INGEST)
    namespace = await owner_namespace(ctx.database, principal.user_id)
    limits = JsonLimits.of(ctx.settings)
    spans = mapped(incoming, namespace, limits, outcome)
    if not spans:
        return
    async with transaction(ctx, ApiKeyScope.INGEST) as session:
        await pending_logs.lock_traces(session, {m.trace_id for m in spans}, exclusive=False)
        batches = await writable_batches(session, principal, namespace, spans, outcome)
        await traces.drop_known_spans(session, batches)
        batches = [b for b in batches if b.spans]
        if not batches:
            return
        await pending_logs.take(session, principal.user_id, batches, limits)
        await costs.price_spans(session, batches)
        cast = participants.cast(batches, principal)
        await traces.write_traces(session, batches, cast.agents, outcome)
        await traces.write_spans(session, batches, outcome)
        await write_conversation(session, principal, batches, cast, limits, outcome)
        traces.trace_endings(batches, outcome)
        await record_many(session, outcome.events)


async def writable_batches(
    session: AsyncSession,
    principal: Principal,
    namespace: uuid.UUID,
    spans: list[Mapped],
    outcome: Outcome,
) -> list[TraceBatch]:
    """The spans by trace, each trace in its conversation (locked), those the principal
    may not write to refused."""
    batches = await traces.place_traces(
        session, principal, namespace, traces.by_trace(spans), outcome
    )
    return await traces.open_conversations(session, principal, batches, outcome)


async def write_conversation(
    session: AsyncSession,
    principal: Principal,
    batches: list[TraceBatch],
    cast: participants.Cast,
    limits: JsonLimits,
    outcome: Outcome,
) -> None:
    """What the spans show of their conversations (`cast`, participants.cast's): who
    takes part, and what they said."""
    created = {b.conversation_id for b in batches if b.new_conversation}
    await participants.join(session, cast, principal, created, outcome)
    await messages.write_messages(session, messages.transcripts(batches, cast), limits, outcome)
