"""Tool calls of ingested conversations: created with the message that asked for them,
closed by whichever report of their end comes first.

A call closes from a TOOL span that ran it (the span's call id; a span naming none runs
the earliest unlinked call of its tool), or from a later model call's history: a tool
message answering its call id, known when that model call started. A span refines a
call a message closed, and links it; a message never overwrites what a span reported.
A TOOL span stored before the call it ran existed links when the call arrives. A call
announces TOOL_START and TOOL_END once, when it first closes.

Statements per batch, whatever its number of calls: one read of its conversations'
unlinked calls, one of the stored TOOL spans waiting for its new calls, one UPDATE
(executemany) of stored calls and one INSERT of new ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Message, Span, ToolCall, Trace
from models.enums import EventKind, SpanKind, SpanStatus, ToolCallStatus
from resolvers.ingest.batch import Mapped, Outcome
from resolvers.ingest.chat import ChatMessage, ToolRequest
from resolvers.ingest.mapping import CALL_ID_KEYS, ToolRun, tool_call_id, tool_run
from resolvers.ingest.rows import write_rows
from resolvers.ingest.values import as_text
from resolvers.json_limits import JsonLimits

CLOSED = (ToolCallStatus.COMPLETED, ToolCallStatus.FAILED)


@dataclass
class Call:
    """A call a span may still link: a stored one, or one of this batch (`row`, inserted
    with whatever closed it)."""

    id: uuid.UUID
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    call_id: str
    tool_name: str
    # When the model call that asked for it ended, if known.
    requested_at: datetime | None
    closed: bool = False
    linked: bool = False
    result: Any = None
    row: dict[str, Any] | None = None
    # The columns to change on a stored call.
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """A TOOL span: of this batch, or stored before the call it ran."""

    span_id: uuid.UUID
    conversation_id: uuid.UUID
    tool: ToolRun
    error: str | None
    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True)
class Answer:
    """A tool message in a model call's history, answering `message.tool_call_id`."""

    conversation_id: uuid.UUID
    message: ChatMessage
    known_at: datetime


def new_call(
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    position: int,
    call_id: str,
    request: ToolRequest,
    requested_at: datetime | None,
) -> Call:
    name = request.name or "tool"
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "message_id": message_id,
        "position": position,
        "call_id": call_id,
        "tool_name": name,
        "arguments": request.arguments,
        "result": None,
        "status": ToolCallStatus.PENDING,
        "error": None,
        "started_at": None,
        "ended_at": None,
        "span_id": None,
    }
    return Call(row["id"], message_id, conversation_id, call_id, name, requested_at, row=row)


def run_of(conversation_id: uuid.UUID, m: Mapped) -> Run:
    assert m.facts.tool is not None
    return Run(
        m.id,
        conversation_id,
        m.facts.tool,
        _error(m.facts.error, m.facts.tool),
        m.span.started_at,
        m.span.ended_at,
    )


def _error(span_error: str | None, tool: ToolRun) -> str | None:
    if span_error is not None:
        return span_error
    return (as_text(tool.result) or "error") if tool.failed else None


async def settle(
    session: AsyncSession,
    new: list[Call],
    runs: list[Run],
    answers: list[Answer],
    new_conversations: set[uuid.UUID],
    limits: JsonLimits,
    outcome: Outcome,
) -> None:
    """Insert the new calls and close what the batch's spans and tool messages close.
    Conversations the batch created have no stored span: none is looked for in them."""
    calls: dict[uuid.UUID, list[Call]] = {}
    for open_call in [*await _unlinked(session, runs, answers), *new]:
        calls.setdefault(open_call.conversation_id, []).append(open_call)
    in_batch = {run.span_id for run in runs}
    older = [c for c in new if c.conversation_id not in new_conversations]
    waiting = [r for r in await _waiting(session, older, limits) if r.span_id not in in_batch]
    for run in [*waiting, *runs]:
        ran = _match(calls.get(run.conversation_id, []), run)
        if ran is not None:
            _close(ran, _ran(run), outcome)
    for answer in answers:
        answered = _answered(calls.get(answer.conversation_id, []), answer)
        if answered is not None:
            _close(answered, _answer(answered, answer), outcome)
    stored = [c.changes | {"id": c.id} for found in calls.values() for c in found if c.changes]
    if stored:
        await session.exec(update(ToolCall), params=stored)
    await write_rows(session, ToolCall, [c.row for c in new if c.row is not None])


def _ran(run: Run) -> dict[str, Any]:
    return {
        "span_id": run.span_id,
        "status": ToolCallStatus.FAILED if run.error is not None else ToolCallStatus.COMPLETED,
        "result": run.tool.result,
        "error": run.error,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
    }


def _answer(call: Call, answer: Answer) -> dict[str, Any]:
    message = answer.message
    return {
        "span_id": None,
        "status": ToolCallStatus.FAILED if message.failed else ToolCallStatus.COMPLETED,
        "result": message.result,
        "error": (message.content or "error") if message.failed else None,
        "started_at": call.requested_at,
        "ended_at": answer.known_at,
    }


def _close(call: Call, values: dict[str, Any], outcome: Outcome) -> None:
    """The call takes `values`; announced the first time it closes."""
    if values["result"] is None:
        # A report without the output (a span recorded without content) keeps the
        # output an earlier report gave.
        values["result"] = call.result
    if call.row is not None:
        call.row.update(values)
    else:
        call.changes = values
    call.result, call.linked = values["result"], values["span_id"] is not None
    if call.closed:
        return
    call.closed = True
    refs: dict[str, Any] = {
        "tool_call_id": call.id,
        "span_id": values["span_id"],
        "message_id": call.message_id,
    }
    outcome.event(call.conversation_id, EventKind.TOOL_START, **refs)
    outcome.event(call.conversation_id, EventKind.TOOL_END, **refs)


def _match(calls: list[Call], run: Run) -> Call | None:
    """The earliest unlinked call the span ran: by its call id, else by its tool."""
    unlinked = (c for c in calls if not c.linked)
    if run.tool.call_id:
        return next((c for c in unlinked if c.call_id == run.tool.call_id), None)
    return next((c for c in unlinked if c.tool_name == run.tool.name), None)


def _answered(calls: list[Call], answer: Answer) -> Call | None:
    """The earliest open call the tool message answers."""
    return next(
        (
            c
            for c in calls
            if not c.closed and not c.linked and c.call_id == answer.message.tool_call_id
        ),
        None,
    )


async def _unlinked(session: AsyncSession, runs: list[Run], answers: list[Answer]) -> list[Call]:
    """Stored calls no span ran yet that the batch's spans or tool messages may close."""
    conversations = {r.conversation_id for r in runs} | {a.conversation_id for a in answers}
    if not conversations:
        return []
    ids = {r.tool.call_id for r in runs if r.tool.call_id}
    ids |= {a.message.tool_call_id for a in answers if a.message.tool_call_id}
    names = {r.tool.name for r in runs if not r.tool.call_id}
    requester = aliased(Span)
    rows = await session.exec(
        select(ToolCall, col(Message.conversation_id), col(requester.ended_at))
        .join(Message, col(Message.id) == col(ToolCall.message_id))
        .outerjoin(requester, col(requester.id) == col(Message.span_id))
        .where(
            col(Message.conversation_id).in_(conversations),
            col(ToolCall.span_id).is_(None),
            or_(col(ToolCall.call_id).in_(ids), col(ToolCall.tool_name).in_(names)),
        )
        .order_by(col(Message.seq), col(ToolCall.position))
    )
    return [
        Call(
            call.id,
            call.message_id,
            conversation_id,
            call.call_id,
            call.tool_name,
            requested_at,
            closed=call.status in CLOSED,
            result=call.result,
        )
        for call, conversation_id, requested_at in rows
    ]


async def _waiting(session: AsyncSession, new: Iterable[Call], limits: JsonLimits) -> list[Run]:
    """Stored TOOL spans that ran one of the new calls (by its call id) and wait for it:
    linked to no call yet."""
    wanted = {(c.conversation_id, c.call_id) for c in new}
    if not wanted:
        return []
    attributes = col(Span.attributes)
    named = func.coalesce(*(attributes[key].as_string() for key in CALL_ID_KEYS))
    linked = exists().where(col(ToolCall.span_id) == col(Span.id))
    rows = await session.exec(
        select(Span, col(Trace.conversation_id))
        .join(Trace, col(Trace.id) == col(Span.trace_id))
        .where(
            col(Trace.conversation_id).in_({c for c, _ in wanted}),
            col(Span.kind) == SpanKind.TOOL,
            named.in_({call_id for _, call_id in wanted}),
            ~linked,
        )
        .order_by(col(Span.started_at), col(Span.id))
    )
    found = []
    for span, conversation_id in rows:
        if (conversation_id, tool_call_id(span.attributes)) not in wanted or span.ended_at is None:
            continue
        tool = tool_run(span.attributes, limits)
        span_error = (span.error or "error") if span.status == SpanStatus.ERROR else None
        found.append(
            Run(
                span.id,
                conversation_id,
                tool,
                _error(span_error, tool),
                span.started_at,
                span.ended_at,
            )
        )
    return found
