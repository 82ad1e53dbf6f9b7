"""What a message is when its sender does not say: its type, and whether it opens a turn.

One rule for every path that writes messages (sendMessage, the agent's question and the
user's answer, edits, bulk ingestion, OTLP transcripts), so a conversation reads alike
whichever way it arrived.
"""

from __future__ import annotations

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


def opens_turn(role: MessageRole) -> bool:
    """A user's prompt opens a turn; everything after it, until the next, answers it."""
    return role == MessageRole.USER
