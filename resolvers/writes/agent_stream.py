"""What a running agent reports about the message it produces: answer chunks, thoughts and
tool calls (each tool call with its TOOL span in the message's trace)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import case, exists, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from models import AgentSession, Conversation, Message, Span, ToolCall, Trace
from models.base import utcnow
from models.enums import (
    AgentSessionStatus,
    ConversationStatus,
    EventKind,
    MessageStatus,
    ParticipantType,
    SpanKind,
    SpanStatus,
    ToolCallStatus,
)
from models.event import OPEN_SESSION_STATUSES
from resolvers import events, validation
from resolvers.access import visible
from resolvers.context import Context
from resolvers.errors import BadInput, Conflict
from resolvers.permissions import Action
from resolvers.writes import agent_identities, run_state, traces
from resolvers.writes.agent_commands import (
    AppendAnswerChunk,
    AppendText,
    ReportThought,
    ReportToolEnd,
    ReportToolStart,
)
from resolvers.writes.commands import EndSpan, SpanError
from resolvers.writes.conversations import lock_conversation, open_conversation
from resolvers.writes.run_end import prompt_of
from resolvers.writes.transaction import (
    existing_client_row,
    get_or_404,
    transaction,
    when,
    writer,
)

AGENT_TRACE_NAME = "agent run"
DONE = frozenset({ToolCallStatus.COMPLETED, ToolCallStatus.FAILED})


async def _locked_message(session: AsyncSession, message_id: uuid.UUID) -> Message:
    """The message, read again once its conversation (open, not CLOSED) is locked."""
    found = await get_or_404(session, Message, message_id)
    await open_conversation(session, found.conversation_id)
    return await get_or_404(session, Message, message_id, lock=True)


def _require_streaming(message: Message) -> None:
    if message.status != MessageStatus.STREAMING:
        raise _not_streaming(message)


def _not_streaming(message: Message) -> Conflict:
    return Conflict(f"the message is {message.status}: only a STREAMING message can grow")


async def _touch(
    session: AsyncSession, conversation_id: uuid.UUID, message_id: uuid.UUID, producing: bool
) -> uuid.UUID | None:
    """Mark the open session (if any) whose agent sent message `message_id` as
    producing it (when `producing`), and an ACTIVE one as just heard from; its id. Another
    sender's message (a user typing, another agent) neither keeps the session alive nor
    becomes the message its run ends. While it waits for the user it produces nothing
    (CONFLICT), and only the answer restarts its wait: a tool call ending late does not.
    Callers hold the conversation lock, which every write to sessions takes."""
    status = col(AgentSession.status)
    message = message_id if producing else col(AgentSession.message_id)
    heard = case(
        (status == AgentSessionStatus.ACTIVE, utcnow()), else_=col(AgentSession.last_interaction_at)
    )
    from_its_agent = exists().where(
        col(Message.id) == message_id,
        col(Message.sender_type) == ParticipantType.AGENT,
        col(Message.sender_id) == col(AgentSession.profile_name),
    )
    touched = await session.exec(
        update(AgentSession)
        .where(
            col(AgentSession.conversation_id) == conversation_id,
            status.in_(OPEN_SESSION_STATUSES),
            from_its_agent,
        )
        .values(last_interaction_at=heard, message_id=message)
        .returning(col(AgentSession.id), status)
        .execution_options(synchronize_session=False)
    )
    found = touched.first()
    if found is None:
        return None
    if producing and found[1] == AgentSessionStatus.AWAITING_USER:
        # Raised before commit: the write that asked rolls back whole.
        raise Conflict(
            "the agent session is AWAITING_USER: nothing streams into it until the user "
            "answers (answerAgent)"
        )
    agent_id: uuid.UUID = found[0]
    return agent_id


async def append_answer_chunk(ctx: Context, data: AppendAnswerChunk) -> Message:
    return await _append(ctx, data, "content", EventKind.ANSWER_CHUNK)


async def report_thought(ctx: Context, data: ReportThought) -> Message:
    return await _append(ctx, data, "thinking", EventKind.THOUGHT)


async def _append(ctx: Context, data: AppendText, attribute: str, kind: EventKind) -> Message:
    # Not `not_blank`: a chunk of only a space or a newline is part of the answer.
    if not data.text:
        raise BadInput("`text` cannot be empty")
    message_id = data.message_id
    async with transaction(ctx) as session:
        conversation_id, seq = await _lock_for_event(
            session,
            select(col(Message.conversation_id)).where(col(Message.id) == message_id),
            lambda: _locked_message(session, message_id),
        )
        # Appended in SQL under the conversation lock: concurrent chunks take turns,
        # none is lost.
        column = getattr(Message, attribute)
        appended = await session.exec(
            update(Message)
            .where(col(Message.id) == message_id, col(Message.status) == MessageStatus.STREAMING)
            .values({column: func.coalesce(column, "") + data.text, "updated_at": utcnow()})
            .returning(Message)
            # The session may hold the message already (a bulk ingest's earlier chunk).
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        message: Message | None = appended.scalar()
        if message is None:
            # It exists (its conversation was found through it): it is not STREAMING.
            raise _not_streaming(await get_or_404(session, Message, message_id))
        # Checked on the row the UPDATE returned (a refusal rolls the append back).
        await agent_identities.require_author(session, message)
        agent_id = await _touch(session, conversation_id, message_id, producing=True)
        events.append(
            session,
            conversation_id,
            seq,
            kind,
            {"text": data.text},
            message_id=message_id,
            agent_session_id=agent_id,
        )
    return message


async def _lock_for_event(
    session: AsyncSession,
    conversation_of: SelectOfScalar[uuid.UUID],
    explain: Callable[[], Awaitable[object]],
    *,
    open_only: bool = True,
) -> tuple[uuid.UUID, int]:
    """Lock the conversation `conversation_of` selects, which must be the writer's to
    write (and, `open_only`, not CLOSED), and take the number of one event in it: one
    UPDATE. When it matches nothing, `explain` runs the lookups that say why
    (NOT_FOUND, FORBIDDEN, CONFLICT); once they hold the lock, the UPDATE cannot miss a
    second time."""
    still_open = [col(Conversation.status) != ConversationStatus.CLOSED]
    statement = (
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_of.scalar_subquery(),
            *(still_open if open_only else []),
            *visible(Conversation, writer(session), Action.RUN_AGENT.access),
        )
        .values(last_event_seq=col(Conversation.last_event_seq) + 1)
        .returning(col(Conversation.id), col(Conversation.last_event_seq))
        .execution_options(synchronize_session=False)
    )
    taken = (await session.exec(statement)).first()
    if taken is None:
        await explain()
        taken = (await session.exec(statement)).one()
    return taken[0], int(taken[1])


async def report_tool_start(ctx: Context, data: ReportToolStart) -> ToolCall:
    validation.not_blank("callId", data.call_id)
    validation.not_blank("toolName", data.tool_name)
    validation.json_object("arguments", data.arguments)
    message_id = data.message_id
    async with transaction(ctx) as session:
        message = await _locked_message(session, message_id)
        await agent_identities.require_author(session, message)
        found = await existing_client_row(session, ToolCall, data.id, message_id=message_id)
        if found is not None:
            return found
        _require_streaming(message)
        position = await _next_position(session, message.id, data.call_id)
        trace = await _trace_for(session, message, data.trace_id)
        span = await _start_tool_span(session, trace, data)
        call = ToolCall(
            id=data.id or uuid.uuid4(),
            message_id=message.id,
            position=position,
            call_id=data.call_id,
            tool_name=data.tool_name,
            arguments=data.arguments,
            status=ToolCallStatus.RUNNING,
            started_at=span.started_at,  # the same instant as its span
            span_id=span.id,
        )
        session.add(call)
        await session.flush()
        seq = await events.take_seq(session, message.conversation_id)
        await _record_call_event(session, message.conversation_id, call, EventKind.TOOL_START, seq)
    return call


async def _start_tool_span(session: AsyncSession, trace: Trace, data: ReportToolStart) -> Span:
    """The call's TOOL span, through startSpan's path: the same checks, links, SPAN_STARTED."""
    span = Span(
        trace_id=trace.id,
        parent_span_id=data.parent_span_id,
        kind=SpanKind.TOOL,
        name=data.tool_name,
        tool_name=data.tool_name,
        inputs=data.arguments,
        attributes={"callId": data.call_id},
    )
    return await traces.add_span(session, trace, span, data.component_version_ids)


async def _next_position(session: AsyncSession, message_id: uuid.UUID, call_id: str) -> int:
    """The position after the message's last tool call; its call ids must stay unique."""
    found = await session.exec(
        select(
            func.max(col(ToolCall.position)),
            func.count().filter(col(ToolCall.call_id) == call_id),
        ).where(col(ToolCall.message_id) == message_id)
    )
    last, taken = found.one()
    if taken:
        raise Conflict(f"the message already has a tool call '{call_id}'")
    return 0 if last is None else last + 1


async def _trace_for(session: AsyncSession, message: Message, trace_id: uuid.UUID | None) -> Trace:
    """The given trace, else the message's latest one, else a new trace for the message."""
    if trace_id is not None:
        trace = await get_or_404(session, Trace, trace_id)
        if trace.conversation_id != message.conversation_id:
            raise BadInput("the trace belongs to another conversation than the message")
        return trace
    latest = await session.exec(
        select(Trace)
        .where(col(Trace.message_id) == message.id)
        .order_by(col(Trace.started_at).desc(), col(Trace.id).desc())
        .limit(1)
    )
    found = latest.first()
    if found is not None:
        return found
    # A run of the agent that sends the message.
    agent = message.sender_id if message.sender_type == ParticipantType.AGENT else None
    trace = Trace(
        conversation_id=message.conversation_id,
        message_id=message.id,
        name=AGENT_TRACE_NAME,
        agent_id=agent,
        user_input=await prompt_of(session, message),
    )
    session.add(trace)
    # Written now: a flush does not order rows of models without relationships by their
    # foreign keys, and the span comes next.
    await session.flush()
    return trace


async def _record_call_event(
    session: AsyncSession, conversation_id: uuid.UUID, call: ToolCall, kind: EventKind, seq: int
) -> None:
    """The call's event (numbered `seq`), once the open agent session is touched: a call
    starting shows which message the agent produces; one ending may be late."""
    producing = kind == EventKind.TOOL_START
    agent_id = await _touch(session, conversation_id, call.message_id, producing)
    events.append(
        session,
        conversation_id,
        seq,
        kind,
        tool_call_id=call.id,
        span_id=call.span_id,
        message_id=call.message_id,
        agent_session_id=agent_id,
    )


async def report_tool_end(ctx: Context, data: ReportToolEnd) -> ToolCall:
    validation.not_blank("error", data.error)
    call_id = data.tool_call_id
    async with transaction(ctx) as session:
        # Running work may finish after its conversation closed: locked, not open (as
        # endSpan).
        conversation_id, seq = await _lock_for_event(
            session,
            select(col(Message.conversation_id))
            .join(ToolCall, col(ToolCall.message_id) == col(Message.id))
            .where(col(ToolCall.id) == call_id),
            lambda: _locked_call(session, call_id),
            open_only=False,
        )
        call = await get_or_404(session, ToolCall, call_id, lock=True)
        if not writer(session).unrestricted:
            await agent_identities.require_author(
                session, await get_or_404(session, Message, call.message_id)
            )
        if call.ended_at is not None or call.status in DONE:
            raise Conflict(f"the tool call already ended ({call.status})")
        ended = when(data.ended_at, utcnow())
        if call.started_at is not None:
            validation.ordered(call.started_at, ended, "a tool call")
        failed = data.error is not None
        call.status = ToolCallStatus.FAILED if failed else ToolCallStatus.COMPLETED
        call.result, call.error, call.ended_at = data.result, data.error, ended
        await session.flush()
        await _record_call_event(session, conversation_id, call, EventKind.TOOL_END, seq)
        if call.span_id is not None:
            await _end_tool_span(session, call.span_id, data, ended)
    return call


async def _locked_call(session: AsyncSession, call_id: uuid.UUID) -> None:
    """The lookups that tell why a tool call's conversation could not be locked."""
    call = await get_or_404(session, ToolCall, call_id)
    message = await get_or_404(session, Message, call.message_id)
    await lock_conversation(session, message.conversation_id)


async def _end_tool_span(
    session: AsyncSession, span_id: uuid.UUID, data: ReportToolEnd, ended: datetime
) -> None:
    span = await get_or_404(session, Span, span_id, lock=True)
    if span.ended_at is not None:
        # Ended on its own (endSpan): the tool call still ends, the span keeps its record.
        return
    trace = await get_or_404(session, Trace, span.trace_id)
    details = (
        None if data.error is None else SpanError(type=run_state.TOOL_ERROR, message=data.error)
    )
    end = EndSpan(
        span_id=span.id,
        status=SpanStatus.OK if details is None else SpanStatus.ERROR,
        error_details=details,
        ended_at=ended,
        outputs={"result": data.result},
    )
    await traces.finish_span(session, trace, span, end)
