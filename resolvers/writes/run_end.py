"""Ending an agent run: its session, and every message, tool call, span and trace of it
still open; the traces it ends keep the prompt the run answered and, when it completed,
its answer (userInput, finalOutput).

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
    MessageRole,
    MessageStatus,
    MessageType,
    ParticipantType,
    SpanStatus,
    ToolCallStatus,
    TraceStatus,
)
from resolvers import events
from resolvers.message_kinds import turn_of
from resolvers.titles import message_text
from resolvers.writes import run_state
from resolvers.writes.commands import EndSpan, SpanError
from resolvers.writes.traces import close_trace, finish_span

# What a tool call still running when its run completes ends with.
CUT_SHORT = SpanError(type=run_state.RUN_ENDED, message="the run ended before the tool call did")


@dataclass(frozen=True)
class Outcome:
    """How a run ends: the session's, the messages' and the event's side of it; with an
    error, what was left open ends as failed."""

    session_status: AgentSessionStatus
    message_status: MessageStatus
    kind: EventKind
    error: str | None = None
    # How the spans it leaves open record the error (errorDetails).
    error_type: str = run_state.RUN_FAILED
    retryable: bool | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def span_error(self) -> SpanError | None:
        if self.error is None:
            return None
        return SpanError(type=self.error_type, message=self.error, retryable=self.retryable)


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
        if outcome.message_status == MessageStatus.ERROR:
            each.message_type = MessageType.ERROR  # as default_type says of an errored one
        await events.record(session, conversation_id, EventKind.MESSAGE_UPDATED, message_id=each.id)
    produced = {each.id: each for each in [*ended, *([message] if message is not None else [])]}
    message_ids = list(produced)
    await _end_tool_calls(session, conversation_id, message_ids, outcome)
    answer = message or (ended[-1] if ended else None)
    await _end_traces(session, conversation_id, agent, produced, answer, outcome)
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
    details = outcome.span_error or CUT_SHORT
    for call in found.all():
        call.status, call.ended_at = ToolCallStatus.FAILED, utcnow()
        call.error = details.message
        if call.span_id is not None:
            await _end_span(session, call.span_id, details)
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
    produced: dict[uuid.UUID, Message],
    answer: Message | None,
    outcome: Outcome,
) -> None:
    """The run's traces (those of its messages, and those begun during the session that
    no other agent ran): their open spans end, then the RUNNING ones, as ERROR when the
    run failed, each with the texts of its message (else of the run's answer)."""
    message_ids = list(produced)
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
    trace_status = TraceStatus.ERROR if outcome.failed else TraceStatus.OK
    for trace in found.all():
        spans = await session.exec(
            select(Span)
            .where(col(Span.trace_id) == trace.id, col(Span.ended_at).is_(None))
            .order_by(col(Span.started_at).desc(), col(Span.id))
            .with_for_update()
        )
        for span in spans.all():
            await _finish(session, trace, span, outcome.span_error)
        if trace.status == TraceStatus.RUNNING:
            own = produced.get(trace.message_id) if trace.message_id is not None else None
            await _keep_texts(session, trace, own or answer, outcome)
            await close_trace(session, trace, trace_status, max(utcnow(), trace.started_at))


async def _keep_texts(
    session: AsyncSession, trace: Trace, answer: Message | None, outcome: Outcome
) -> None:
    """What the trace's run did not say itself (startTrace's userInput, endTrace's
    finalOutput): the prompt, and the answer of a run that completed. A failed run gave
    no answer (endTrace stores an ERROR trace's output only when told one): its error is
    the session's, the spans' (errorDetails) and the trace's status."""
    if answer is None:
        return
    if trace.user_input is None:
        trace.user_input = await prompt_of(session, answer)
    if trace.final_output is None and not outcome.failed:
        trace.final_output = message_text(answer.content, answer.parts) or None


async def prompt_of(session: AsyncSession, message: Message) -> str | None:
    """The text of the user's prompt `message` answers: the USER message that opened its
    turn. None when no user opened it (an agent speaking first) or the prompt has no text."""
    opener_id = turn_of(message)
    opener = message if opener_id == message.id else await session.get(Message, opener_id)
    if opener is None or opener.role != MessageRole.USER:
        return None
    return message_text(opener.content, opener.parts) or None


async def _end_span(session: AsyncSession, span_id: uuid.UUID, error: SpanError) -> None:
    span = await session.get(Span, span_id, with_for_update=True)
    if span is None or span.ended_at is not None:
        return
    trace = await session.get(Trace, span.trace_id)
    if trace is not None:
        await _finish(session, trace, span, error)


async def _finish(session: AsyncSession, trace: Trace, span: Span, error: SpanError | None) -> None:
    """End the span as OK, or as ERROR with `error` (structured, as endSpan stores it)."""
    # A span may say it started later than now (clocks differ): it then ends as it began.
    ended = max(utcnow(), span.started_at)
    status = SpanStatus.OK if error is None else SpanStatus.ERROR
    end = EndSpan(span_id=span.id, status=status, error_details=error, ended_at=ended)
    await finish_span(session, trace, span, end)


def _end_session(agent: AgentSession, outcome: Outcome, message: Message | None) -> None:
    now = utcnow()
    agent.status, agent.error, agent.question = outcome.session_status, outcome.error, None
    agent.ended_at = agent.last_interaction_at = now
    if message is not None:
        agent.message_id = message.id
