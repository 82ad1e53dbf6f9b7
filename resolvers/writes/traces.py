"""Traces and their spans: start, end, and links to component versions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import (
    ComponentVersion,
    Conversation,
    Participant,
    Plan,
    PlanStep,
    Span,
    SpanComponentVersion,
    Trace,
)
from models.base import utcnow
from models.enums import EventKind, ParticipantType, SpanKind, TraceStatus
from resolvers import events, validation
from resolvers.access import visible
from resolvers.context import Context
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.ids import to_global_id
from resolvers.pricing import charges
from resolvers.principal import Identity
from resolvers.writes import agent_identities, run_state
from resolvers.writes.commands import EndSpan, EndTrace, StartSpan, StartTrace
from resolvers.writes.conversations import lock_conversation, open_conversation
from resolvers.writes.totals import USAGE, Usage, add_usage
from resolvers.writes.transaction import (
    existing_client_row,
    get_or_404,
    insert_ignoring_duplicates,
    message_in,
    transaction,
    when,
    writer,
)


def duration_ms(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() * 1000


async def start_trace(ctx: Context, data: StartTrace) -> Trace:
    run_state.optional_objects(
        initialMemoryState=data.initial_memory_state,
        initialConversationState=data.initial_conversation_state,
        systemConfig=data.system_config,
    )
    conversation_id, message_id = data.conversation_id, data.message_id
    async with transaction(ctx) as session:
        found = await existing_client_row(session, Trace, data.id, conversation_id=conversation_id)
        if found is not None:
            return found
        await open_conversation(session, conversation_id)
        if message_id is not None:
            await message_in(session, message_id, conversation_id, "the trace's message")
        trace = Trace(
            id=data.id or uuid.uuid4(),
            conversation_id=conversation_id,
            message_id=message_id,
            name=data.name,
            user_input=data.user_input,
            user_id=data.user_id,
            session_id=data.session_id,
            agent_id=await _run_agent(session, conversation_id, data.agent_id),
            started_at=when(data.started_at, utcnow()),
            initial_memory_state=data.initial_memory_state,
            initial_conversation_state=data.initial_conversation_state,
            system_config=data.system_config,
        )
        session.add(trace)
        await session.flush()
        await events.record(session, conversation_id, EventKind.TRACE_STARTED, trace_id=trace.id)
    return trace


async def _run_agent(
    session: AsyncSession, conversation_id: uuid.UUID, agent_id: str | None
) -> str | None:
    """The agent a new trace is a run of (`usage` groups by it): the one named, which
    must be an agent of the conversation, else the writer's own (an agent's key)."""
    if agent_id is None:
        return writer(session).agent_id
    found = await session.exec(
        select(col(Participant.id)).where(
            col(Participant.conversation_id) == conversation_id,
            col(Participant.participant_id) == agent_id,
            col(Participant.participant_type) == ParticipantType.AGENT,
        )
    )
    if found.first() is None:
        raise BadInput(f"'{agent_id}' is not an agent of the trace's conversation")
    return agent_id


async def end_trace(ctx: Context, data: EndTrace) -> Trace:
    if data.status == TraceStatus.RUNNING:
        raise BadInput("a trace ends as OK or ERROR")
    trace_id = data.trace_id
    async with transaction(ctx) as session:
        found = await get_or_404(session, Trace, trace_id)
        # Work already running may finish after the conversation closed: lock, not open.
        await lock_conversation(session, found.conversation_id)
        trace = await get_or_404(session, Trace, trace_id, lock=True)
        if trace.status != TraceStatus.RUNNING:
            raise Conflict(f"the trace already ended ({trace.status})")
        ended = when(data.ended_at, utcnow())
        validation.ordered(trace.started_at, ended, "a trace")
        if data.message_id is not None:
            await message_in(session, data.message_id, trace.conversation_id, "the trace's message")
            trace.message_id = data.message_id
        trace.final_output = data.final_output
        await close_trace(session, trace, data.status, ended)
    return trace


async def close_trace(
    session: AsyncSession, trace: Trace, status: TraceStatus, ended: datetime
) -> None:
    """End a locked RUNNING trace and record TRACE_ENDED: endTrace, and runs that end
    with their traces open (run_end)."""
    trace.status, trace.ended_at = status, ended
    trace.duration_ms = duration_ms(trace.started_at, ended)
    await events.record(
        session,
        trace.conversation_id,
        EventKind.TRACE_ENDED,
        {"status": status.value},
        trace_id=trace.id,
        message_id=trace.message_id,
    )


async def _check_step(session: AsyncSession, step_id: uuid.UUID, trace: Trace) -> None:
    step = await get_or_404(session, PlanStep, step_id)
    plan = await get_or_404(session, Plan, step.plan_id)
    if plan.conversation_id != trace.conversation_id:
        raise BadInput("the plan step belongs to another conversation than the trace")


async def _check_versions(session: AsyncSession, version_ids: list[uuid.UUID]) -> None:
    if not version_ids:
        return
    found = set(
        (
            await session.exec(
                select(col(ComponentVersion.id)).where(
                    col(ComponentVersion.id).in_(version_ids),
                    *visible(ComponentVersion, writer(session)),
                )
            )
        ).all()
    )
    missing = [v for v in version_ids if v not in found]
    if missing:
        raise NotFound(
            f"ComponentVersion '{to_global_id('ComponentVersion', missing[0])}' does not exist"
        )


async def _link(session: AsyncSession, span_id: uuid.UUID, version_ids: list[uuid.UUID]) -> None:
    for version_id in dict.fromkeys(version_ids):
        await session.exec(
            insert_ignoring_duplicates(
                session, SpanComponentVersion, span_id=span_id, component_version_id=version_id
            )
        )


async def start_span(ctx: Context, data: StartSpan) -> Span:
    validation.not_blank("name", data.name)
    validation.json_object("inputs", data.inputs)
    validation.json_object("attributes", data.attributes)
    run_state.optional_objects(
        memorySnapshot=data.memory_snapshot, conversationContext=data.conversation_context
    )
    trace_id = data.trace_id
    async with transaction(ctx) as session:
        found = await existing_client_row(session, Span, data.id, trace_id=trace_id)
        if found is not None:
            return found
        trace = await get_or_404(session, Trace, trace_id)
        await open_conversation(session, trace.conversation_id)
        span = Span(
            id=data.id or uuid.uuid4(),
            trace_id=trace_id,
            parent_span_id=data.parent_span_id,
            plan_step_id=data.plan_step_id,
            kind=data.kind,
            name=data.name,
            # startSpan names no tool but the span: a TOOL span is named after its tool.
            tool_name=data.name if data.kind == SpanKind.TOOL else None,
            started_at=when(data.started_at, utcnow()),
            inputs=data.inputs,
            attributes=data.attributes,
            model=data.model,
            provider=data.provider,
            memory_snapshot=data.memory_snapshot,
            conversation_context=data.conversation_context,
        )
        await add_span(session, trace, span, data.component_version_ids)
    return span


async def add_span(
    session: AsyncSession, trace: Trace, span: Span, version_ids: list[uuid.UUID]
) -> Span:
    """Check a new span's links, write it with its component versions, record SPAN_STARTED.

    Shared by startSpan and the agent's tool calls; the conversation is locked already.
    """
    if span.parent_span_id is not None:
        parent = await get_or_404(session, Span, span.parent_span_id)
        if parent.trace_id != trace.id:
            raise BadInput("the parent span belongs to another trace")
    if span.plan_step_id is not None:
        await _check_step(session, span.plan_step_id, trace)
    await _check_versions(session, version_ids)
    session.add(span)
    await session.flush()
    await _link(session, span.id, version_ids)
    await events.record(
        session,
        trace.conversation_id,
        EventKind.SPAN_STARTED,
        trace_id=trace.id,
        span_id=span.id,
        plan_step_id=span.plan_step_id,
    )
    return span


async def end_span(ctx: Context, data: EndSpan) -> Span:
    validation.token_counts(
        inputTokens=data.input_tokens,
        cachedInputTokens=data.cached_input_tokens,
        outputTokens=data.output_tokens,
        totalTokens=data.total_tokens,
    )
    validation.cost(data.cost)
    validation.cached_input(data.cached_input_tokens, data.input_tokens)
    validation.json_object("outputs", data.outputs)
    validation.json_object("attributes", data.attributes)
    span_id = data.span_id
    async with transaction(ctx) as session:
        trace = await get_or_404(
            session, Trace, (await get_or_404(session, Span, span_id)).trace_id
        )
        await lock_conversation(session, trace.conversation_id)
        span = await get_or_404(session, Span, span_id, lock=True)
        await finish_span(session, trace, span, data)
    return span


async def _produced(
    session: AsyncSession, trace: Trace, span: Span, message_id: uuid.UUID
) -> Usage:
    """Link the message the span's model call produced: it shows the span's usage from
    now on, which the span counts. Returns what the conversation stops counting for the
    message (its own usage, until now counted by itself)."""
    message = await message_in(session, message_id, trace.conversation_id, "the message")
    # It changes what the message says it cost: only its sender may say so.
    sender = Identity(message.sender_type, message.sender_id)
    await agent_identities.require_speaker(session, writer(session), sender)
    if message.span_id not in (None, span.id):
        raise Conflict("the message was produced by another span")
    uncounted = Usage() if message.span_id is not None else Usage.of(message)
    message.span_id = span.id
    for name in (*USAGE, "cached_input_tokens"):
        setattr(message, name, getattr(span, name))
    message.cost_source, message.price_id = span.cost_source, span.price_id
    if message.model is None:
        message.model = span.model
    await events.record(
        session, trace.conversation_id, EventKind.MESSAGE_UPDATED, message_id=message.id
    )
    return -uncounted


async def finish_span(session: AsyncSession, trace: Trace, span: Span, data: EndSpan) -> Span:
    """End a locked span, add its usage to its trace's and conversation's, record SPAN_ENDED.

    Shared by endSpan and the agent's tool calls (`data.span_id` is not read here).
    """
    if span.ended_at is not None:
        raise Conflict("the span already ended")
    ended = when(data.ended_at, utcnow())
    validation.ordered(span.started_at, ended, "a span")
    total = (
        data.input_tokens + data.output_tokens if data.total_tokens is None else data.total_tokens
    )
    span.ended_at, span.duration_ms = ended, duration_ms(span.started_at, ended)
    span.status, span.outputs = data.status, data.outputs
    span.error, span.error_details = run_state.span_error(
        data.status, data.error, data.error_details
    )
    span.attributes = {**span.attributes, **data.attributes}
    span.model = data.model or span.model
    span.input_tokens, span.output_tokens = data.input_tokens, data.output_tokens
    span.cached_input_tokens, span.total_tokens = data.cached_input_tokens, total
    call = charges.ModelCall(
        span.model,
        span.provider,
        span.input_tokens,
        span.cached_input_tokens,
        span.output_tokens,
        data.cost,
    )
    charge = await charges.charge(session, trace.conversation_id, call)
    span.cost, span.cost_source, span.price_id = charge.cost, charge.source, charge.price_id
    # Added in SQL so spans of one trace ending at once lose nothing; the conversation
    # counts the span's usage too (one usage model: resolvers.analytics.usage).
    used = Usage.of(span)
    await add_usage(session, Trace, {trace.id: used}, "trace")
    if data.message_id is not None:
        used += await _produced(session, trace, span, data.message_id)
    await add_usage(session, Conversation, {trace.conversation_id: used}, "conversation")
    await events.record(
        session,
        trace.conversation_id,
        EventKind.SPAN_ENDED,
        {"status": span.status.value},
        trace_id=trace.id,
        span_id=span.id,
        plan_step_id=span.plan_step_id,
    )
    return span


async def link_span_versions(
    ctx: Context, span_id: uuid.UUID, version_ids: list[uuid.UUID]
) -> Span:
    if not version_ids:
        raise BadInput("give at least one component version")
    async with transaction(ctx) as session:
        span = await get_or_404(session, Span, span_id)
        # Linking is writing to the span's conversation: observers may not.
        trace = await get_or_404(session, Trace, span.trace_id)
        await lock_conversation(session, trace.conversation_id)
        await _check_versions(session, version_ids)
        await _link(session, span_id, version_ids)
    return span
