"""The conversation an LLM span shows: its messages, their tool calls, the tool runs.

Every LLM call re-sends the history before it; each message is stored once, under
its ingest key (resolvers.ingest.mapping.keyed), in the order the calls saw them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, tuple_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Message, ToolCall
from models.enums import EventKind, MessageRole, ParticipantType, SpanKind, ToolCallStatus
from resolvers.ingest.batch import Mapped, Outcome, TraceBatch
from resolvers.ingest.mapping import ChatMessage, ToolRequest, keyed
from resolvers.ingest.rows import write_rows
from resolvers.principal import Principal
from resolvers.writes.messages import Added, take_seqs

SENDER_TYPES = {
    MessageRole.USER: ParticipantType.USER,
    MessageRole.ASSISTANT: ParticipantType.AGENT,
    MessageRole.TOOL: ParticipantType.AGENT,
    MessageRole.SYSTEM: ParticipantType.SYSTEM,
}


@dataclass
class Said:
    """A message as an LLM span carried it, and the message before it in that call."""

    key: str
    message: ChatMessage
    span: Mapped
    output: bool
    previous: str | None


@dataclass
class Transcript:
    """One conversation's messages in a batch, in the order the calls saw them."""

    conversation_id: uuid.UUID
    said: dict[str, Said] = field(default_factory=dict)
    tool_spans: list[Mapped] = field(default_factory=list)


def transcripts(batches: list[TraceBatch]) -> dict[uuid.UUID, Transcript]:
    found: dict[uuid.UUID, Transcript] = {}
    for batch in batches:
        transcript = found.setdefault(batch.conversation_id, Transcript(batch.conversation_id))
        for m in sorted(batch.spans, key=lambda m: m.span.started_at):
            if m.facts.kind == SpanKind.TOOL and m.facts.tool is not None:
                transcript.tool_spans.append(m)
            outputs = len(m.facts.messages_out)
            history = keyed([*m.facts.messages_in, *m.facts.messages_out])
            previous = None
            for index, (key, message) in enumerate(history):
                output = index >= len(history) - outputs
                transcript.said.setdefault(key, Said(key, message, m, output, previous))
                previous = key
    return found


async def write_messages(
    session: AsyncSession,
    principal: Principal,
    found: dict[uuid.UUID, Transcript],
    outcome: Outcome,
) -> None:
    """Store the messages not stored yet, with their tool calls; link the tool spans."""
    keys = [key for t in found.values() for key in t.said]
    stored: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    if keys:
        rows = await session.exec(
            select(col(Message.conversation_id), col(Message.ingest_key), col(Message.id)).where(
                col(Message.conversation_id).in_(found), col(Message.ingest_key).in_(keys)
            )
        )
        stored = {(c, k): i for c, k, i in rows if k is not None}
    new = {
        t.conversation_id: [s for k, s in t.said.items() if (t.conversation_id, k) not in stored]
        for t in found.values()
    }
    new = {conversation_id: said for conversation_id, said in new.items() if said}
    messages: list[dict[str, Any]] = []
    calls: list[tuple[uuid.UUID, dict[str, Any]]] = []
    if new:
        last = await take_seqs(session, {c: _added(said) for c, said in new.items()})
        first = {c: last[c] - len(said) + 1 for c, said in new.items()}
        latest = await _latest_before(session, first)
        for conversation_id, said in new.items():
            _add_messages(
                principal,
                conversation_id,
                said,
                first[conversation_id],
                latest.get(conversation_id),
                stored,
                messages,
                calls,
                outcome,
            )
    await write_rows(session, Message, messages)
    await _run_tools(session, found, calls, outcome)
    call_rows = [row for _, row in calls]
    await write_rows(session, ToolCall, call_rows)


def _add_messages(
    principal: Principal,
    conversation_id: uuid.UUID,
    new: list[Said],
    first_seq: int,
    latest: uuid.UUID | None,
    stored: dict[tuple[uuid.UUID, str], uuid.UUID],
    messages: list[dict[str, Any]],
    calls: list[tuple[uuid.UUID, dict[str, Any]]],
    outcome: Outcome,
) -> None:
    for offset, said in enumerate(new):
        message_id = uuid.uuid4()
        parent = stored.get((conversation_id, said.previous)) if said.previous else latest
        stored[(conversation_id, said.key)] = message_id
        messages.append(
            _message_row(principal, said, message_id, conversation_id, first_seq + offset, parent)
        )
        # A message's call ids are unique (the first call with an id wins).
        requests: dict[str, ToolRequest] = {}
        for index, request in enumerate(said.message.tool_calls):
            requests.setdefault(request.call_id or f"call_{index}", request)
        for position, (call_id, request) in enumerate(requests.items()):
            calls.append(
                (
                    conversation_id,
                    {
                        "id": uuid.uuid4(),
                        "message_id": message_id,
                        "position": position,
                        "call_id": call_id,
                        "tool_name": request.name or "tool",
                        "arguments": request.arguments,
                        "result": None,
                        "status": ToolCallStatus.PENDING,
                        "error": None,
                        "started_at": None,
                        "ended_at": None,
                        "span_id": None,
                    },
                )
            )
        outcome.event(conversation_id, EventKind.MESSAGE_CREATED, message_id=message_id)


def _message_row(
    principal: Principal,
    said: Said,
    message_id: uuid.UUID,
    conversation_id: uuid.UUID,
    seq: int,
    parent: uuid.UUID | None,
) -> dict[str, Any]:
    f, span, role = said.span.facts, said.span.span, said.message.role
    agent = principal.agent_id or f.agent_name or "agent"
    senders = {MessageRole.USER: f.user_id or principal.user_id, MessageRole.SYSTEM: "system"}
    usage = said.output
    return {
        "id": message_id,
        "conversation_id": conversation_id,
        "seq": seq,
        "parent_message_id": parent,
        "sender_id": senders.get(role, agent),
        "sender_type": SENDER_TYPES[role],
        "role": role,
        "content": said.message.content,
        "parts": [],
        "attachments": [],
        "model": f.model if usage else None,
        "provider": f.provider if usage else None,
        "input_tokens": f.input_tokens if usage else 0,
        "output_tokens": f.output_tokens if usage else 0,
        "total_tokens": f.total_tokens if usage else 0,
        "latency_ms": int((span.ended_at - span.started_at).total_seconds() * 1000)
        if usage
        else None,
        "metadata": {"source": "opentelemetry", "spanId": span.span_id},
        "created_at": span.ended_at if usage else span.started_at,
        "updated_at": span.ended_at,
        "ingest_key": said.key,
    }


def _added(new: list[Said]) -> Added:
    """The new messages of a conversation, with the usage of those an LLM answered."""
    usage = [s.span.facts for s in new if s.output]
    return Added(
        len(new),
        input_tokens=sum(f.input_tokens for f in usage),
        output_tokens=sum(f.output_tokens for f in usage),
        total_tokens=sum(f.total_tokens for f in usage),
    )


async def _latest_before(
    session: AsyncSession, first_seq: dict[uuid.UUID, int]
) -> dict[uuid.UUID, uuid.UUID]:
    """The message each conversation's new history continues from: its latest so far."""
    wanted = [(c, seq - 1) for c, seq in first_seq.items() if seq > 1]
    if not wanted:
        return {}
    found = await session.exec(
        select(col(Message.conversation_id), col(Message.id)).where(
            tuple_(col(Message.conversation_id), col(Message.seq)).in_(wanted)
        )
    )
    return dict(found.all())


@dataclass
class OpenCall:
    """A tool call no span ran yet: a stored one, or one of this batch (`row` to insert)."""

    id: uuid.UUID
    message_id: uuid.UUID
    call_id: str
    tool_name: str
    row: dict[str, Any] | None = None


async def _run_tools(
    session: AsyncSession,
    found: dict[uuid.UUID, Transcript],
    new_calls: list[tuple[uuid.UUID, dict[str, Any]]],
    outcome: Outcome,
) -> None:
    """Each TOOL span runs the earliest open call with its call id (else its tool name)
    in its conversation: the call takes the span's result, status and times."""
    runs = [(t.conversation_id, m) for t in found.values() for m in t.tool_spans]
    if not runs:
        return
    open_calls = await _stored_open_calls(session, runs)
    for conversation_id, row in new_calls:
        open_calls.setdefault(conversation_id, []).append(
            OpenCall(row["id"], row["message_id"], row["call_id"], row["tool_name"], row)
        )
    for conversation_id, m in runs:
        call = _match(open_calls.get(conversation_id, []), m)
        if call is None:
            continue
        await _finish_call(session, call, m)
        refs: dict[str, Any] = {
            "tool_call_id": call.id,
            "span_id": m.id,
            "message_id": call.message_id,
        }
        outcome.event(conversation_id, EventKind.TOOL_START, **refs)
        outcome.event(conversation_id, EventKind.TOOL_END, **refs)


async def _stored_open_calls(
    session: AsyncSession, runs: list[tuple[uuid.UUID, Mapped]]
) -> dict[uuid.UUID, list[OpenCall]]:
    tools = [m.facts.tool for _, m in runs if m.facts.tool is not None]
    rows = await session.exec(
        select(ToolCall, col(Message.conversation_id))
        .join(Message, col(Message.id) == col(ToolCall.message_id))
        .where(
            col(Message.conversation_id).in_({c for c, _ in runs}),
            col(ToolCall.span_id).is_(None),
            or_(
                col(ToolCall.call_id).in_({t.call_id for t in tools if t.call_id}),
                col(ToolCall.tool_name).in_({t.name for t in tools}),
            ),
        )
        .order_by(col(Message.seq), col(ToolCall.position))
    )
    found: dict[uuid.UUID, list[OpenCall]] = {}
    for call, conversation_id in rows:
        found.setdefault(conversation_id, []).append(
            OpenCall(call.id, call.message_id, call.call_id, call.tool_name)
        )
    return found


def _match(calls: list[OpenCall], m: Mapped) -> OpenCall | None:
    tool = m.facts.tool
    assert tool is not None
    match = next((c for c in calls if tool.call_id and c.call_id == tool.call_id), None)
    match = match or next((c for c in calls if c.tool_name == tool.name), None)
    if match is not None:
        calls.remove(match)
    return match


async def _finish_call(session: AsyncSession, call: OpenCall, m: Mapped) -> None:
    assert m.facts.tool is not None
    values = {
        "span_id": m.id,
        "status": ToolCallStatus.FAILED if m.span.error else ToolCallStatus.COMPLETED,
        "result": m.facts.tool.result,
        "error": m.facts.error,
        "started_at": m.span.started_at,
        "ended_at": m.span.ended_at,
    }
    if call.row is not None:
        call.row.update(values)
        return
    await session.exec(
        update(ToolCall)
        .where(col(ToolCall.id) == call.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
