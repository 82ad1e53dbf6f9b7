"""Sending and editing messages, with their tool calls and the conversation's roll-ups."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, bindparam, inspect, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Conversation, Message, Span, ToolCall, Trace
from models.base import Money, utcnow
from models.enums import ConversationStatus, EventKind, MessageRole, ParticipantType
from resolvers import events, validation
from resolvers.access import visible
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.ids import to_global_id
from resolvers.message_kinds import TURN, default_type, edited_type, opens_turn, turn_of
from resolvers.permissions import Action
from resolvers.pricing import charges
from resolvers.pricing.charges import Charge, ModelCall
from resolvers.principal import Identity
from resolvers.titles import title_from
from resolvers.writes import agent_identities, routing
from resolvers.writes.commands import (
    KEEP,
    EditMessage,
    Keep,
    MessageContent,
    NewToolCall,
    SendMessage,
)
from resolvers.writes.conversations import open_conversation
from resolvers.writes.references import add_references, check_references
from resolvers.writes.totals import TOKENS, per_row, room_for, totals_full
from resolvers.writes.transaction import (
    existing_client_row,
    get_or_404,
    message_in,
    transaction,
    writer,
)


def check_content(data: MessageContent) -> None:
    validation.token_counts(
        inputTokens=data.input_tokens,
        cachedInputTokens=data.cached_input_tokens,
        outputTokens=data.output_tokens,
        totalTokens=data.total_tokens,
    )
    validation.cost(data.cost)
    validation.cached_input(data.cached_input_tokens, data.input_tokens)
    validation.non_negative(latencyMs=data.latency_ms)
    validation.temperature(data.temperature)
    validation.in_range("confidence", data.confidence, 0.0, 1.0)
    check_references(data.references)
    validation.message_parts(data.parts)
    validation.json_objects("attachments", data.attachments)
    validation.json_object("metadata", data.metadata)
    validation.unique("toolCalls.callId", [call.call_id for call in data.tool_calls])
    validation.unique("toolCalls.id", [call.id for call in data.tool_calls if call.id is not None])
    for call in data.tool_calls:
        validation.not_blank("toolCalls.callId", call.call_id)
        validation.not_blank("toolCalls.toolName", call.tool_name)
        validation.json_object("toolCalls.arguments", call.arguments)
        if call.started_at and call.ended_at:
            validation.ordered(call.started_at, call.ended_at, f"tool call '{call.call_id}'")


async def send_message(ctx: Context, data: SendMessage) -> Message:
    check_content(data)
    validation.not_blank("senderId", data.sender_id)
    routing.check(data.routing_decision)
    async with transaction(ctx) as session:
        found = await existing_client_row(
            session, Message, data.id, conversation_id=data.conversation_id
        )
        if found is not None:
            return found
        message = await write_message(session, data)
    return message


async def write_message(session: AsyncSession, data: SendMessage) -> Message:
    """Write a new message in the open conversation and record MESSAGE_CREATED.

    sendMessage's path, shared with the agent's question and the user's answer.
    """
    conversation_id = data.conversation_id
    charge = await _charge(session, conversation_id, data)
    seq, event_seq, untitled = await _next_seqs(session, conversation_id, data, charge.cost)
    # Once the conversation is known to be visible: who may not see it hears NOT_FOUND.
    sender = Identity(data.sender_type, data.sender_id)
    await agent_identities.require_speaker(session, writer(session), sender)
    parent_id, parent_turn = await _parent(session, conversation_id, seq, data.parent_message_id)
    message = _message(data.id, conversation_id, seq, parent_id, data, charge)
    message.sender_id, message.sender_type, message.role = (
        data.sender_id,
        data.sender_type,
        data.role,
    )
    message.turn_message_id = await _turn(session, data, message.id, parent_turn)
    await routing.route(session, message, data)
    await _add(session, message, data)
    # Written before the event that points at it: a flush does not order the rows of
    # models without relationships by their foreign keys.
    await session.flush()
    events.append(
        session, conversation_id, event_seq, EventKind.MESSAGE_CREATED, message_id=message.id
    )
    await routing.record(session, message)
    if untitled and data.role == MessageRole.USER:
        await _title_from_prompt(session, conversation_id, data)
    return message


async def _parent(
    session: AsyncSession, conversation_id: uuid.UUID, seq: int, parent_id: uuid.UUID | Keep | None
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The new message's parent (KEEP: the latest message before it) and the parent's turn.

    Checked under the conversation's lock, which a deletion of the parent also takes.
    """
    if parent_id is KEEP:
        latest = await session.exec(_LATEST_BEFORE, params={"c": conversation_id, "seq": seq})
        found = latest.first()
        return (None, None) if found is None else (found[0], found[1])
    if parent_id is None:
        return None, None
    parent = await message_in(session, parent_id, conversation_id, "the parent message")
    return parent.id, turn_of(parent)


async def _turn(
    session: AsyncSession, data: SendMessage, message_id: uuid.UUID, parent_turn: uuid.UUID | None
) -> uuid.UUID:
    """The turn the new message joins: that of the message the sender names; else a new
    one (its own id) when its role opens one; else its parent's; without a parent, its own."""
    if data.turn_id is not None:
        joined = await message_in(session, data.turn_id, data.conversation_id, "the turn's message")
        return turn_of(joined)
    if opens_turn(data.role) or parent_turn is None:
        return message_id
    return parent_turn


async def _title_from_prompt(
    session: AsyncSession, conversation_id: uuid.UUID, data: SendMessage
) -> None:
    """A conversation created without a title takes its first user message's (its row is
    locked already: _next_seqs), and its live lists hear of it."""
    title = title_from(data.content, data.parts)
    if title is None:
        return
    await session.exec(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.title).is_(None))
        .values(title=title)
        .execution_options(synchronize_session=False)
    )
    change = {"fields": ["title"], "before": {"title": None}}
    await events.record(session, conversation_id, EventKind.CONVERSATION_UPDATED, change)


async def edit_message(ctx: Context, data: EditMessage) -> Message:
    """Write the edit as a sibling of the original (same parent), leaving the original."""
    check_content(data)
    client_id = data.id
    async with transaction(ctx) as session:
        original = await get_or_404(session, Message, data.message_id)
        # An edit speaks in the original's name: only its sender may make one.
        sender = Identity(original.sender_type, original.sender_id)
        await agent_identities.require_speaker(session, ctx.principal, sender)
        found = await existing_client_row(
            session, Message, client_id, conversation_id=original.conversation_id
        )
        if found is not None:
            return found
        charge = await _charge(session, original.conversation_id, data)
        seq, event_seq, _ = await _next_seqs(session, original.conversation_id, data, charge.cost)
        message = _message(
            client_id, original.conversation_id, seq, original.parent_message_id, data, charge
        )
        message.sender_id, message.sender_type, message.role = (
            original.sender_id,
            original.sender_type,
            original.role,
        )
        message.meta = {**data.metadata, "editedFrom": to_global_id("Message", original.id)}
        # An edited prompt asks anew; any other edit answers what the original answered.
        opens = opens_turn(original.role)
        message.turn_message_id = message.id if opens else turn_of(original)
        kind = edited_type(original.message_type, original.role, data.status, bool(data.tool_calls))
        await _add(session, message, replace(data, message_type=data.message_type or kind))
        await session.flush()  # before its event, as in write_message
        events.append(
            session,
            message.conversation_id,
            event_seq,
            EventKind.MESSAGE_CREATED,
            message_id=message.id,
        )
    return message


def _message(
    client_id: uuid.UUID | None,
    conversation_id: uuid.UUID,
    seq: int,
    parent_id: uuid.UUID | None,
    data: MessageContent,
    charge: Charge,
) -> Message:
    return Message(
        id=client_id or uuid.uuid4(),
        conversation_id=conversation_id,
        seq=seq,
        parent_message_id=parent_id,
        sender_id="",
        sender_type=ParticipantType.USER,
        content=data.content,
        parts=data.parts,
        thinking=data.thinking,
        status=data.status,
        model=data.model,
        provider=data.provider,
        temperature=data.temperature,
        input_tokens=data.input_tokens,
        cached_input_tokens=data.cached_input_tokens,
        output_tokens=data.output_tokens,
        total_tokens=_total(data),
        **charge.columns(),
        latency_ms=data.latency_ms,
        attachments=data.attachments,
        meta=data.metadata,
        confidence=data.confidence,
    )


async def _charge(
    session: AsyncSession, conversation_id: uuid.UUID, data: MessageContent
) -> Charge:
    call = ModelCall(
        data.model,
        data.provider,
        data.input_tokens,
        data.cached_input_tokens,
        data.output_tokens,
        data.cost,
    )
    return await charges.charge(session, conversation_id, call)


def _total(data: MessageContent) -> int:
    return (
        data.input_tokens + data.output_tokens if data.total_tokens is None else data.total_tokens
    )


@dataclass(frozen=True)
class Added:
    """Messages added to one conversation, and their usage for its roll-ups."""

    count: int
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal(0)


def _counter_updates(count: Any, tokens: Mapping[str, Any], cost: Any) -> dict[str, Any]:
    """The roll-ups of conversations receiving `count` messages of the given usage."""
    return {
        "last_message_seq": col(Conversation.last_message_seq) + count,
        "message_count": col(Conversation.message_count) + count,
        **{name: getattr(Conversation, name) + amount for name, amount in tokens.items()},
        "cost": col(Conversation.cost) + cost,
    }


_ONE_MESSAGE_TOKENS = {name: bindparam(name, type_=Integer) for name in TOKENS}
# One message and its event, in one statement built once (a restricted principal adds
# its visibility conditions to it): this is the hottest write.
_TAKE_ONE_MESSAGE = (
    update(Conversation)
    .where(
        col(Conversation.id) == bindparam("c"),
        col(Conversation.status) != ConversationStatus.CLOSED,
        *room_for({getattr(Conversation, n): p for n, p in _ONE_MESSAGE_TOKENS.items()}),
    )
    .values(
        **_counter_updates(1, _ONE_MESSAGE_TOKENS, bindparam("cost", type_=Money)),
        last_event_seq=col(Conversation.last_event_seq) + 1,
        last_activity_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(
        col(Conversation.last_message_seq),
        col(Conversation.last_event_seq),
        # The title, not `title IS NULL`: SQLite 3.40 answers that 0 here for a NULL title.
        col(Conversation.title),
    )
    .execution_options(synchronize_session=False)
)
_LATEST_BEFORE = (
    select(col(Message.id), TURN)
    .where(col(Message.conversation_id) == bindparam("c"), col(Message.seq) < bindparam("seq"))
    .order_by(col(Message.seq).desc())
    .limit(1)
)


async def _next_seqs(
    session: AsyncSession, conversation_id: uuid.UUID, data: MessageContent, cost: Decimal
) -> tuple[int, int, bool]:
    """Lock the conversation, add one message of `data`'s tokens and `cost` to its roll-ups,
    and take the message's sequence number and its MESSAGE_CREATED event's: one UPDATE, whose
    conditions are those of open_conversation (and room in the totals). The third value
    tells whether the conversation has no title yet.

    When it matches no row, open_conversation tells why (NOT_FOUND, FORBIDDEN, CONFLICT);
    once it holds the lock, nothing but full totals can stop the UPDATE a second time.
    """
    conditions = visible(Conversation, writer(session), Action.POST.access)
    statement = _TAKE_ONE_MESSAGE.where(*conditions) if conditions else _TAKE_ONE_MESSAGE
    params = {
        "c": conversation_id,
        "input_tokens": data.input_tokens,
        "output_tokens": data.output_tokens,
        "total_tokens": _total(data),
        "cost": cost,
        "now": utcnow(),
    }
    taken = (await session.exec(statement, params=params)).first()
    if taken is None:
        await open_conversation(session, conversation_id)
        taken = (await session.exec(statement, params=params)).first()
        if taken is None:
            raise totals_full("conversation")
    return int(taken[0]), int(taken[1]), taken[2] is None


async def take_seqs(
    session: AsyncSession, added: Mapping[uuid.UUID, Added]
) -> dict[uuid.UUID, int]:
    """Take sequence numbers for new messages and add them to the roll-ups, atomically,
    in one UPDATE for every conversation; the last number taken in each.

    The UPDATE both locks the conversation rows (so concurrent senders queue) and
    increments the counters in SQL (so no increment is lost).
    """
    now = utcnow()
    columns = inspect(Conversation).columns
    types = {name: columns[name].type for name in (*TOKENS, "cost")}
    amounts = {
        name: per_row(
            {c: getattr(a, name) for c, a in added.items()},
            col(Conversation.id),
            types.get(name, Integer()),
        )
        for name in ("count", *TOKENS, "cost")
    }
    tokens = {name: amounts[name] for name in TOKENS}
    result = await session.exec(
        update(Conversation)
        .where(
            col(Conversation.id).in_(added),
            *room_for({getattr(Conversation, name): v for name, v in tokens.items()}),
        )
        .values(
            **_counter_updates(amounts["count"], tokens, amounts["cost"]),
            last_activity_at=now,
            updated_at=now,
        )
        .returning(col(Conversation.id), col(Conversation.last_message_seq))
        .execution_options(synchronize_session=False)
    )
    last = {conversation_id: int(seq) for conversation_id, seq in result.all()}
    # The conversations were read in this transaction: a missing row has no room left.
    if len(last) < len(added):
        raise totals_full("conversation")
    return last


async def _add(session: AsyncSession, message: Message, data: MessageContent) -> None:
    """Add the message with its tool calls and references; its type, unless the sender
    gave one, follows from its role, status and tool calls (resolvers.message_kinds)."""
    has_calls = bool(data.tool_calls)
    message.message_type = data.message_type or default_type(message.role, data.status, has_calls)
    session.add(message)
    for position, call in enumerate(data.tool_calls):
        session.add(await _tool_call(session, message, position, call))
    await add_references(session, message, data.references)


async def _tool_call(
    session: AsyncSession, message: Message, position: int, data: NewToolCall
) -> ToolCall:
    span_id = data.span_id
    if span_id is not None:
        span = await get_or_404(session, Span, span_id)
        trace = await get_or_404(session, Trace, span.trace_id)
        if trace.conversation_id != message.conversation_id:
            raise BadInput(f"tool call '{data.call_id}': its span belongs to another conversation")
    values: dict[str, Any] = {
        "id": data.id or uuid.uuid4(),
        "message_id": message.id,
        "position": position,
        "call_id": data.call_id,
        "tool_name": data.tool_name,
        "arguments": data.arguments,
        "result": data.result,
        "status": data.status,
        "error": data.error,
        "started_at": data.started_at,
        "ended_at": data.ended_at,
        "span_id": span_id,
    }
    return ToolCall(**values)
