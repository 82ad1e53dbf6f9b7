"""Removing data and branching it off: delete a conversation or a message, fork a branch."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Conversation, Message, MessageReference, Participant, ToolCall
from models.base import utcnow
from models.enums import EventKind
from resolvers import events, validation
from resolvers.context import Context
from resolvers.ids import to_global_id
from resolvers.message_kinds import turn_of
from resolvers.ownership import delete_conversations, delete_rows
from resolvers.permissions import Action
from resolvers.principal import Identity
from resolvers.publisher import Farewell
from resolvers.reads import branch_ids
from resolvers.writes.conversations import (
    lock_conversation,
    open_conversation,
    require_own_words,
)
from resolvers.writes.totals import USAGE
from resolvers.writes.transaction import get_or_404, transaction

# What a fork does not copy from its source: identity, history and roll-ups are its own.
NOT_FORKED = frozenset(
    {"id", "status", "archived_at", "created_at", "updated_at", "last_activity_at"}
    | {"last_message_seq", "last_event_seq", "message_count", "input_tokens"}
    | {"output_tokens", "total_tokens", "cost"}
    | {"forked_from_conversation_id", "forked_from_message_id"}
    # Only createConversation names a parent, and only one its caller can see.
    | {"parent_conversation_id"}
)
# What a message's copy leaves with the original: the routing was decided, and counted
# (routeStats), in the source; its run is the source's.
NOT_COPIED = frozenset(
    {"id", "conversation_id", "seq", "span_id", "turn_message_id"}
    | {"route", "routing_decision", "run_trace_id", "run_session_id"}
)
MESSAGES: Table = Message.__table__  # type: ignore[attr-defined]


async def delete_conversation(ctx: Context, conversation_id: uuid.UUID) -> Conversation:
    """Delete the conversation and all it owns in one transaction; its subscribers then
    get CONVERSATION_DELETED and their subscriptions end. Returns the row as it was."""
    async with transaction(ctx) as session:
        conversation = await lock_conversation(session, conversation_id, Action.DELETE)
        farewell = Farewell.of(conversation, conversation.last_event_seq + 1, utcnow())
        await delete_conversations(session, [conversation_id])
    if ctx.bus is not None:
        await ctx.bus.announce_deleted(farewell)
    return conversation


def _subtree(root_id: uuid.UUID) -> Any:
    """A message and every reply below it, on every branch, with what they add to totals
    and who sent them."""
    # A message a span produced adds nothing: its span counts its usage.
    counted = col(Message.span_id).is_(None)
    columns = (
        col(Message.id),
        *(case((counted, col(getattr(Message, name))), else_=0).label(name) for name in USAGE),
        col(Message.sender_type),
        col(Message.sender_id),
    )
    tree = select(*columns).where(col(Message.id) == root_id).cte("tree", recursive=True)
    replies = select(*columns).where(col(Message.parent_message_id) == tree.c.id)
    subtree = tree.union_all(replies)
    return select(*subtree.c)


async def delete_message(
    ctx: Context, message_id: uuid.UUID
) -> tuple[Conversation, list[uuid.UUID]]:
    """Delete a message with its replies (the branches below it would have no root);
    the conversation's count and totals lose what they held. Returns the conversation
    and the ids deleted."""
    async with transaction(ctx) as session:
        message = await get_or_404(session, Message, message_id)
        conversation = await open_conversation(session, message.conversation_id, Action.EDIT_OWN)
        rows = (await session.exec(_subtree(message_id))).all()
        # The replies go too: unless all of them are the writer's own, it is moderation.
        senders = (Identity(row[-2], row[-1]) for row in rows)
        await require_own_words(session, conversation.id, senders, Action.MODERATE)
        ids = [row[0] for row in rows]
        await delete_rows(session, MESSAGES, [(message_id,) for message_id in ids])
        conversation.message_count -= len(ids)
        # The latest message is the one numbered last_message_seq (resolvers.reads):
        # when it goes, the latest left takes its place.
        latest = await session.exec(
            select(func.max(col(Message.seq))).where(
                col(Message.conversation_id) == conversation.id
            )
        )
        conversation.last_message_seq = latest.one() or 0
        for position, name in enumerate(USAGE, start=1):
            removed = sum(row[position] for row in rows)
            setattr(conversation, name, getattr(conversation, name) - removed)
        conversation.updated_at = utcnow()
        data = {"messageIds": [to_global_id("Message", i) for i in ids]}
        await events.record(session, conversation.id, EventKind.MESSAGES_DELETED, data)
    return conversation, ids


async def _branch(session: AsyncSession, leaf_id: uuid.UUID) -> list[Message]:
    """The messages from the conversation's first message down to the leaf, in order."""
    on_branch = col(Message.id).in_(branch_ids([leaf_id]))
    found = await session.exec(select(Message).where(on_branch).order_by(col(Message.seq)))
    return list(found.all())


async def fork_conversation(
    ctx: Context, from_message_id: uuid.UUID, title: str | None
) -> Conversation:
    """A new conversation holding copies of the branch that ends at the message (new ids,
    tool calls included, their spans left with the source); the source is not changed."""
    validation.title("title", title)
    async with transaction(ctx) as session:
        leaf = await get_or_404(session, Message, from_message_id)
        source = await lock_conversation(session, leaf.conversation_id, Action.FORK)
        branch = await _branch(session, leaf.id)
        fork = Conversation(
            **source.model_dump(exclude=set(NOT_FORKED)),
            id=uuid.uuid4(),
            forked_from_conversation_id=source.id,
            forked_from_message_id=leaf.id,
        )
        if title is not None:
            fork.title = title
        session.add(fork)
        await session.flush()
        await _copy_participants(session, source.id, fork.id)
        copies = _copy_messages(fork, branch)
        session.add_all(copies.values())
        await session.flush()
        await _copy_tool_calls(session, copies)
        await _copy_references(session, copies)
        data = {"forkedFrom": to_global_id("Message", leaf.id)}
        await events.record(session, fork.id, EventKind.CONVERSATION_CREATED, data)
    return fork


async def _copy_participants(
    session: AsyncSession, source_id: uuid.UUID, fork_id: uuid.UUID
) -> None:
    found = await session.exec(
        select(Participant).where(
            col(Participant.conversation_id) == source_id, col(Participant.active).is_(True)
        )
    )
    for participant in found.all():
        copy = participant.model_dump(exclude={"id", "conversation_id", "joined_at"})
        session.add(Participant(**copy, conversation_id=fork_id))


def _copy_messages(fork: Conversation, branch: list[Message]) -> dict[uuid.UUID, Message]:
    """Copies numbered 1..n, each replying to the copy of its parent; the fork's roll-ups
    are theirs. Keyed by the original's id."""
    copies: dict[uuid.UUID, Message] = {}
    for seq, original in enumerate(branch, start=1):
        # The spans stay with the source: in the fork, each copy counts its own usage.
        copy = Message(**original.model_dump(exclude=set(NOT_COPIED)))
        copy.id, copy.conversation_id, copy.seq = uuid.uuid4(), fork.id, seq
        parent = original.parent_message_id
        copy.parent_message_id = copies[parent].id if parent in copies else None
        # A turn opened off the branch (a turnId naming another branch) opens its own.
        turn = copies.get(turn_of(original), copy)
        copy.turn_message_id = turn.id
        copy.meta = {**original.meta, "forkedFrom": to_global_id("Message", original.id)}
        copies[original.id] = copy
        for name in USAGE:
            setattr(fork, name, getattr(fork, name) + getattr(original, name))
    fork.message_count = fork.last_message_seq = len(branch)
    return copies


async def _copy_references(session: AsyncSession, copies: dict[uuid.UUID, Message]) -> None:
    """References follow their copies: to a message of the branch, its copy; to anything
    the fork does not hold (a message off the branch, a span: spans stay with the source),
    no target, as a deleted one reads."""
    found = await session.exec(
        select(MessageReference).where(col(MessageReference.message_id).in_(list(copies)))
    )
    for reference in found.all():
        original = reference.target_message_id
        target = None if original is None else copies.get(original)
        copy = reference.model_dump(exclude={"message_id", "target_message_id", "target_span_id"})
        session.add(
            MessageReference(
                **copy,
                message_id=copies[reference.message_id].id,
                target_message_id=None if target is None else target.id,
            )
        )


async def _copy_tool_calls(session: AsyncSession, copies: dict[uuid.UUID, Message]) -> None:
    found = await session.exec(select(ToolCall).where(col(ToolCall.message_id).in_(list(copies))))
    for call in found.all():
        copy = call.model_dump(exclude={"id", "message_id", "span_id"})
        session.add(ToolCall(**copy, message_id=copies[call.message_id].id))
