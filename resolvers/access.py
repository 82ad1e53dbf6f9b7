"""Which rows a principal may see or change, as SQL conditions.

Visibility is decided in the database, so counts, pages and totals never include
a row the caller cannot see. Everything in a conversation is visible to whoever
may see the conversation; component versions are shared, read-only; API keys are
their owner's alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, or_
from sqlmodel import col

from models import (
    AgentSession,
    ApiKey,
    Conversation,
    Event,
    Message,
    Participant,
    Plan,
    PlanStep,
    Score,
    SearchDocument,
    Span,
    ToolCall,
    Trace,
)
from models.enums import ParticipantRole
from resolvers.principal import Principal

# Tables that hold their conversation's id.
IN_A_CONVERSATION = frozenset(
    {Participant, Message, Plan, Trace, Event, AgentSession, Score, SearchDocument}
)
# Tables one step further away: the parent table that holds the conversation's id.
THROUGH_PARENT: dict[Any, tuple[Any, Any]] = {
    ToolCall: (Message, ToolCall.message_id),
    PlanStep: (Plan, PlanStep.plan_id),
    Span: (Trace, Span.trace_id),
}


def _participates(principal: Principal, conversation_id: Any, writing: bool) -> Any:
    found = exists().where(
        col(Participant.conversation_id) == conversation_id,
        col(Participant.participant_id).in_(principal.identities),
        col(Participant.active).is_(True),
    )
    # Observers may read a conversation but not write to it.
    return found.where(col(Participant.role) != ParticipantRole.OBSERVER) if writing else found


def conversation_rows(principal: Principal, *, writing: bool = False) -> list[ColumnElement[bool]]:
    """Conditions on the conversations table itself."""
    if principal.unrestricted:
        return []
    owned = col(Conversation.owner_id) == principal.user_id
    return [or_(owned, _participates(principal, col(Conversation.id), writing))]


def conversation_id_visible(
    principal: Principal, conversation_id: Any, *, writing: bool = False
) -> ColumnElement[bool]:
    """A correlated condition on any column holding a conversation id."""
    owned = exists().where(
        col(Conversation.id) == conversation_id,
        col(Conversation.owner_id) == principal.user_id,
    )
    return or_(owned, _participates(principal, conversation_id, writing))


def visible(
    model: Any, principal: Principal, *, writing: bool = False
) -> list[ColumnElement[bool]]:
    """The conditions under which rows of `model` are the principal's to see (or,
    `writing`, to change); none for a principal who sees everything, or for shared rows."""
    if principal.unrestricted:
        return []
    if model is Conversation:
        return conversation_rows(principal, writing=writing)
    if model is ApiKey:
        return [col(ApiKey.owner_id) == principal.user_id]
    if model in IN_A_CONVERSATION:
        return [conversation_id_visible(principal, model.conversation_id, writing=writing)]
    if model in THROUGH_PARENT:
        parent, key = THROUGH_PARENT[model]
        in_visible_parent = exists().where(
            col(parent.id) == key,
            conversation_id_visible(principal, parent.conversation_id, writing=writing),
        )
        return [in_visible_parent]
    return []
