"""Ending an agent run: its session, and every message, tool call, span and trace of it
still open.

completeRun, failRun and the sweeper's timeout (stale.py) all end runs here, so that no
way of ending one leaves a STREAMING message, a RUNNING tool call, an open span or a
RUNNING trace behind. Callers hold the conversation lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import AgentSession, Message, Span, ToolCall, Trace
from models.base import utcnow
from models.enums import (
    AgentSessionStatus,
    EventKind,
    MessageStatus,
    ParticipantType,
    SpanStatus,
    ToolCallStatus,
    TraceStatus,
)
from resolvers import events
from resolvers.writes.commands import EndSpan
from resolvers.writes.traces import close_trace, finish_span


@dataclass(frozen=True)
class Outcome:
    """How a run ends: the session's, the messages' and the event's side of it; with an
    error, what was left open ends as failed."""

    session_status: AgentSessionStatus
    message_status: MessageStatus
    kind: EventKind
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


async def end_run(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    agent: AgentSession | None,
    message: Message | None,
    outcome: Outcome,
) -> None:
    """End the run of `agent` (the open session, if any) producing `message` (if any)."""
    ended = await _open_messages(session, conversation_id, agent, message)
    for each in ended:
        each.status, each.updated_at = outcome.message_status, utcnow()
        await events.record(session, conversation_id, EventKind.MESSAGE_UPDATED, message_id=each.id)
    message_ids = [each.id for each in ended] + ([message.id] if message is not None else [])
    await _end_tool_calls(session, conversation_id, message_ids, outcome)
    await _end_traces(session, conversation_id, agent, message_ids, outcome)
    if agent is not None:
        _end_session(agent, outcome, message)
    await events.record(
        session,
        conversation_id,
        outcome.kind,
        {} if outcome.error is None else {"error": outcome.error},
        message_id=message.id if message is not None else None,
        agent_session_id=agent.id if agent is not None else None,
    )


def _since(agent: AgentSession | None, started_at: Any) -> list[ColumnElement[bool]]:
    """Rows begun while the session ran (none without a session)."""
    return [] if agent is None else [started_at >= agent.started_at]


async def _open_messages(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    agent: AgentSession | None,
    message: Message | None,
) -> list[Message]:
    """The run's STREAMING messages: the one given, and those its agent began during the
    session (one that never got a chunk is not the session's message yet)."""
    theirs = [col(Message.id) == message.id] if message is not None else []
    if agent is not None:
        theirs.append(
            (col(Message.sender_type) == ParticipantType.AGENT)
            & (col(Message.sender_id) == agent.profile_name)
            & (col(Message.created_at) >= agent.started_at)
        )
    if not theirs:
        return []
    found = await session.exec(
        select(Message)
        .where(
            col(Message.conversation_id) == conversation_id,
            col(Message.status) == MessageStatus.STREAMING,
            or_(*theirs),
        )
        .order_by(col(Message.seq))
        .with_for_update()
    )
    return list(found.all())


async def _end_tool_calls(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    message_ids: list[uuid.UUID],
    outcome: Outcome,
) -> None:
    """Calls still RUNNING in the run's messages end as FAILED, their spans as ERROR
    however the run ended: the run that waited for them is over."""
    found = await session.exec(
        select(ToolCall)
        .where(
            col(ToolCall.message_id).in_(message_ids),
            col(ToolCall.status) == ToolCallStatus.RUNNING,
        )
        .order_by(col(ToolCall.message_id), col(ToolCall.position))
        .with_for_update()
    )
    for call in found.all():
        call.status, call.ended_at = ToolCallStatus.FAILED, utcnow()
        call.error = outcome.error or "the run ended before the tool call did"
        if call.span_id is not None:
            await _end_span(session, call.span_id, SpanStatus.ERROR, call.error)
        await events.record(
            session,
            conversation_id,
            EventKind.TOOL_END,
            tool_call_id=call.id,
            span_id=call.span_id,
            message_id=call.message_id,
        )


async def _end_traces(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    agent: AgentSession | None,
    message_ids: list[uuid.UUID],
    outcome: Outcome,
) -> None:
    """The run's traces (those of its messages, and those begun during the session that
    no other agent ran): their open spans end, then the RUNNING ones, as ERROR when the
    run failed."""
    begun = _since(agent, col(Trace.started_at))
    if agent is not None:
        ran = col(Trace.agent_id)
        begun.append(or_(ran.is_(None), ran == agent.profile_name))
    found = await session.exec(
        select(Trace)
        .where(
            col(Trace.conversation_id) == conversation_id,
            or_(col(Trace.message_id).in_(message_ids), *([and_(*begun)] if begun else [])),
        )
        .order_by(col(Trace.started_at), col(Trace.id))
        .with_for_update()
    )
    span_status = SpanStatus.ERROR if outcome.failed else SpanStatus.OK
    trace_status = TraceStatus.ERROR if outcome.failed else TraceStatus.OK
    for trace in found.all():
        spans = await session.exec(
            select(Span)
            .where(col(Span.trace_id) == trace.id, col(Span.ended_at).is_(None))
            .order_by(col(Span.started_at).desc(), col(Span.id))
            .with_for_update()
        )
        for span in spans.all():
            await _finish(session, trace, span, span_status, outcome.error)
        if trace.status == TraceStatus.RUNNING:
            await close_trace(session, trace, trace_status, max(utcnow(), trace.started_at))


async def _end_span(
    session: AsyncSession, span_id: uuid.UUID, status: SpanStatus, error: str | None
) -> None:
    span = await session.get(Span, span_id, with_for_update=True)
    if span is None or span.ended_at is not None:
        return
    trace = await session.get(Trace, span.trace_id)
    if trace is not None:
        await _finish(session, trace, span, status, error)


async def _finish(
    session: AsyncSession, trace: Trace, span: Span, status: SpanStatus, error: str | None
) -> None:
    # A span may say it started later than now (clocks differ): it then ends as it began.
    ended = max(utcnow(), span.started_at)
    end = EndSpan(span_id=span.id, status=status, error=error, ended_at=ended)
    await finish_span(session, trace, span, end)


def _end_session(agent: AgentSession, outcome: Outcome, message: Message | None) -> None:
    now = utcnow()
    agent.status, agent.error, agent.question = outcome.session_status, outcome.error, None
    agent.ended_at = agent.last_interaction_at = now
    if message is not None:
        agent.message_id = message.id
