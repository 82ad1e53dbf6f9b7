"""What a message is when its sender does not say: its type, and whether it opens a turn.

One rule for every path that writes messages (sendMessage, the agent's question and the
user's answer, edits, bulk ingestion, OTLP transcripts), so a conversation reads alike
whichever way it arrived.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlmodel import col

from models import Message
from models.enums import MessageRole, MessageStatus, MessageType


def default_type(role: MessageRole, status: MessageStatus, has_tool_calls: bool) -> MessageType:
    """An errored message is an ERROR; a tool's is its result; an assistant's asks for
    tools or answers; anything else is plain TEXT."""
    if status == MessageStatus.ERROR:
        return MessageType.ERROR
    if role == MessageRole.TOOL:
        return MessageType.TOOL_RESULT
    if role == MessageRole.ASSISTANT:
        return MessageType.TOOL_CALL if has_tool_calls else MessageType.ANSWER
    return MessageType.TEXT


# Types only a sender gives: no default produces them, so nothing but the sender's word
# says a message is one.
SAID_ONLY = frozenset({MessageType.QUESTION, MessageType.THOUGHT, MessageType.PLAN})


def edited_type(
    original: MessageType, role: MessageRole, status: MessageStatus, has_tool_calls: bool
) -> MessageType:
    """An edit, when its sender does not say: still a question, thought or plan if its
    original was one; else what its own content makes it."""
    if original in SAID_ONLY and status != MessageStatus.ERROR:
        return original
    return default_type(role, status, has_tool_calls)


def opens_turn(role: MessageRole) -> bool:
    """A user's prompt opens a turn; everything after it, until the next, answers it."""
    return role == MessageRole.USER


def turn_of(message: Message) -> uuid.UUID:
    """The id of the message that opened `message`'s turn: its own where none is stored
    (a row written before turns were kept opens its own)."""
    return message.turn_message_id or message.id


# turn_of in SQL, for statements that read or match turns.
TURN = func.coalesce(col(Message.turn_message_id), col(Message.id))
