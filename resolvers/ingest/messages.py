"""The conversation an LLM span shows: its messages and the tool calls they ask for.

Every LLM call re-sends the history before it; each message is stored once, under
its ingest key (resolvers.ingest.chat.keyed), in the order the calls saw them. Their
tool calls close in resolvers.ingest.tool_calls; who sends them, in
resolvers.ingest.participants.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Message
from models.enums import EventKind, MessageRole, MessageStatus, ParticipantType, SpanKind
from resolvers.ingest import tool_calls
from resolvers.ingest.batch import Mapped, Outcome, TraceBatch
from resolvers.ingest.chat import ChatMessage, ToolRequest, keyed
from resolvers.ingest.participants import Cast
from resolvers.ingest.rows import write_rows
from resolvers.json_limits import JsonLimits
from resolvers.message_kinds import TURN, default_type, opens_turn
from resolvers.pricing.charges import NO_CHARGE
from resolvers.writes.messages import Added, take_seqs


class Placed(NamedTuple):
    """A message of a transcript: its id, and the id of the message that opened its turn."""

    id: uuid.UUID
    turn: uuid.UUID


@dataclass
class Said:
    """A message as an LLM span carried it, the message before it in that call, and who
    sent it."""

    key: str
    message: ChatMessage
    span: Mapped
    output: bool
    previous: str | None
    sender: tuple[str, ParticipantType]


@dataclass
class Transcript:
    """One conversation's messages in a batch, in the order the calls saw them."""

    conversation_id: uuid.UUID
    # Created by this batch: no stored span or call of it to look for.
    new: bool = False
    said: dict[str, Said] = field(default_factory=dict)
    tool_spans: list[Mapped] = field(default_factory=list)


def transcripts(batches: list[TraceBatch], cast: Cast) -> dict[uuid.UUID, Transcript]:
    found: dict[uuid.UUID, Transcript] = {}
    for batch in batches:
        transcript = found.setdefault(
            batch.conversation_id, Transcript(batch.conversation_id, batch.new_conversation)
        )
        for m in sorted(batch.spans, key=lambda m: m.span.started_at):
            if m.facts.kind == SpanKind.TOOL and m.facts.tool is not None:
                transcript.tool_spans.append(m)
            speakers = cast.speakers[m.id]
            outputs = len(m.facts.messages_out)
            history = keyed([*m.facts.messages_in, *m.facts.messages_out])
            previous = None
            for index, (key, message) in enumerate(history):
                output = index >= len(history) - outputs
                sender = speakers.sender(message.role)
                transcript.said.setdefault(key, Said(key, message, m, output, previous, sender))
                previous = key
    return found


async def write_messages(
    session: AsyncSession,
    found: dict[uuid.UUID, Transcript],
    limits: JsonLimits,
    outcome: Outcome,
) -> None:
    """Store the messages not stored yet, with their tool calls; close the calls the
    batch's tool spans and tool messages close."""
    keys = [key for t in found.values() for key in t.said]
    stored: dict[tuple[uuid.UUID, str], Placed] = {}
    if keys:
        rows = await session.exec(
            select(
                col(Message.conversation_id), col(Message.ingest_key), col(Message.id), TURN
            ).where(col(Message.conversation_id).in_(found), col(Message.ingest_key).in_(keys))
        )
        stored = {(c, k): Placed(i, t) for c, k, i, t in rows if k is not None}
    new = {
        t.conversation_id: [s for k, s in t.said.items() if (t.conversation_id, k) not in stored]
        for t in found.values()
    }
    new = {conversation_id: said for conversation_id, said in new.items() if said}
    written = Written()
    if new:
        last = await take_seqs(session, {c: _added(said) for c, said in new.items()})
        first = {c: last[c] - len(said) + 1 for c, said in new.items()}
        latest = await _latest_before(session, first)
        for conversation_id, said in new.items():
            _add_messages(
                conversation_id,
                said,
                first[conversation_id],
                latest.get(conversation_id),
                stored,
                written,
                outcome,
            )
    await write_rows(session, Message, written.messages)
    runs = [tool_calls.run_of(t.conversation_id, m) for t in found.values() for m in t.tool_spans]
    created = {t.conversation_id for t in found.values() if t.new}
    await tool_calls.settle(session, written.calls, runs, written.answers, created, limits, outcome)


@dataclass
class Written:
    """The rows of a batch's new messages, their tool calls, and the tool results they
    carry."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tool_calls.Call] = field(default_factory=list)
    answers: list[tool_calls.Answer] = field(default_factory=list)


def _add_messages(
    conversation_id: uuid.UUID,
    new: list[Said],
    first_seq: int,
    latest: Placed | None,
    stored: dict[tuple[uuid.UUID, str], Placed],
    written: Written,
    outcome: Outcome,
) -> None:
    for offset, said in enumerate(new):
        message_id = uuid.uuid4()
        parent = stored.get((conversation_id, said.previous)) if said.previous else latest
        # As sendMessage's rule: a user's prompt opens a turn, the rest joins its parent's.
        if parent is None or opens_turn(said.message.role):
            placed = Placed(message_id, message_id)
        else:
            placed = Placed(message_id, parent.turn)
        stored[(conversation_id, said.key)] = placed
        written.messages.append(
            _message_row(said, placed, conversation_id, first_seq + offset, parent)
        )
        span = said.span.span
        # A message's call ids are unique (the first call with an id wins).
        requests: dict[str, ToolRequest] = {}
        for index, request in enumerate(said.message.tool_calls):
            requests.setdefault(request.call_id or f"call_{index}", request)
        for position, (call_id, request) in enumerate(requests.items()):
            written.calls.append(
                tool_calls.new_call(
                    conversation_id,
                    message_id,
                    position,
                    call_id,
                    request,
                    span.ended_at if said.output else None,
                )
            )
        if said.message.role == MessageRole.TOOL and said.message.tool_call_id:
            known_at = span.ended_at if said.output else span.started_at
            written.answers.append(tool_calls.Answer(conversation_id, said.message, known_at))
        outcome.event(conversation_id, EventKind.MESSAGE_CREATED, message_id=message_id)


def _message_row(
    said: Said,
    placed: Placed,
    conversation_id: uuid.UUID,
    seq: int,
    parent: Placed | None,
) -> dict[str, Any]:
    f, span, role = said.span.facts, said.span.span, said.message.role
    sender_id, sender_type = said.sender
    usage = said.output
    return {
        "id": placed.id,
        "conversation_id": conversation_id,
        "seq": seq,
        "parent_message_id": None if parent is None else parent.id,
        "turn_message_id": placed.turn,
        "message_type": default_type(role, MessageStatus.COMPLETE, bool(said.message.tool_calls)),
        "sender_id": sender_id,
        "sender_type": sender_type,
        "role": role,
        "content": said.message.content,
        "parts": [],
        "attachments": [],
        "model": f.model if usage else None,
        "provider": f.provider if usage else None,
        # An answer shows its model call's usage, which the span counts (not the message).
        "span_id": said.span.id if usage else None,
        **_shown_usage(said.span if usage else None),
        "latency_ms": int((span.ended_at - span.started_at).total_seconds() * 1000)
        if usage
        else None,
        "metadata": {"source": "opentelemetry", "spanId": span.span_id},
        "created_at": span.ended_at if usage else span.started_at,
        "updated_at": span.ended_at,
        "ingest_key": said.key,
    }


NO_USAGE = {
    **dict.fromkeys(("input_tokens", "cached_input_tokens", "output_tokens", "total_tokens"), 0),
    **NO_CHARGE.columns(),
}


def _shown_usage(call: Mapped | None) -> dict[str, Any]:
    """The usage columns of a message: its model call's, or none."""
    if call is None:
        return NO_USAGE
    return {
        "input_tokens": call.usage.input_tokens,
        "cached_input_tokens": call.cached_input_tokens,
        "output_tokens": call.usage.output_tokens,
        "total_tokens": call.usage.total_tokens,
        **call.charge.columns(),
    }


def _added(new: list[Said]) -> Added:
    """The new messages of a conversation: no usage, as their spans count it."""
    return Added(len(new))


async def _latest_before(
    session: AsyncSession, first_seq: dict[uuid.UUID, int]
) -> dict[uuid.UUID, Placed]:
    """The message each conversation's new history continues from: its latest so far."""
    wanted = [(c, seq - 1) for c, seq in first_seq.items() if seq > 1]
    if not wanted:
        return {}
    found = await session.exec(
        select(col(Message.conversation_id), col(Message.id), TURN).where(
            tuple_(col(Message.conversation_id), col(Message.seq)).in_(wanted)
        )
    )
    return {c: Placed(i, t) for c, i, t in found.all()}
