"""Which rows a principal may see or change, as SQL conditions.

Visibility is decided in the database, so counts, pages and totals never include
a row the caller cannot see. Everything in a conversation is visible to whoever
may see the conversation; component versions are shared unless their component is
private; API keys and agents are their owner's alone.

Identities are typed: a participant row matches a principal only when both its type
(USER or AGENT) and its id are one of the principal's identities.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    any_,
    exists,
    false,
    func,
    or_,
    select,
    union,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import col

from models import (
    Agent,
    AgentSession,
    ApiKey,
    Component,
    ComponentVersion,
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
from resolvers.permissions import Access, roles_with
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
# Rows of a user's own: the column holding the user's id.
OWN_ROWS: dict[Any, Any] = {ApiKey: ApiKey.owner_id, Agent: Agent.owner_id}


def is_identity(principal: Principal, type_column: Any, id_column: Any) -> ColumnElement[bool]:
    """The (type, id) pair held by two columns is one of the principal's identities."""
    return or_(
        *(
            and_(type_column == identity.type, id_column == identity.id)
            for identity in principal.identities
        )
    )


def _participates(principal: Principal, conversation_id: Any, access: Access) -> Any:
    # An alias: the caller's column may itself be `participants.conversation_id`.
    member = aliased(Participant)
    found = exists().where(
        col(member.conversation_id) == conversation_id,
        is_identity(principal, member.participant_type, member.participant_id),
        col(member.active).is_(True),
    )
    if access > Access.READ:
        found = found.where(col(member.role).in_(roles_with(access)))
    return found


def _owns(principal: Principal, conversation: Any) -> ColumnElement[bool]:
    return is_identity(principal, conversation.owner_type, conversation.owner_id)


def conversation_rows(
    principal: Principal, access: Access = Access.READ
) -> list[ColumnElement[bool]]:
    """Conditions on the conversations table itself."""
    if principal.unrestricted:
        return []
    return [
        or_(_owns(principal, Conversation), _participates(principal, col(Conversation.id), access))
    ]


def conversation_id_visible(
    principal: Principal, conversation_id: Any, access: Access = Access.READ
) -> ColumnElement[bool]:
    """A correlated condition on any column holding a conversation id."""
    owner = aliased(Conversation)
    owned = exists().where(col(owner.id) == conversation_id, _owns(principal, owner))
    return or_(owned, _participates(principal, conversation_id, access))


def _components(principal: Principal) -> ColumnElement[bool]:
    return or_(col(Component.private).is_(False), col(Component.owner_id) == principal.user_id)


def visible(
    model: Any, principal: Principal, access: Access = Access.READ
) -> list[ColumnElement[bool]]:
    """The conditions under which rows of `model` are the principal's to see (or, with
    more `access`, to change); none for a principal who sees everything, or for shared rows."""
    if principal.unrestricted:
        return []
    if access > Access.MANAGE:
        return [false()]
    if model is Conversation:
        return conversation_rows(principal, access)
    if model in OWN_ROWS:
        return [OWN_ROWS[model] == principal.user_id]
    if model in IN_A_CONVERSATION:
        return [conversation_id_visible(principal, model.conversation_id, access)]
    if model in THROUGH_PARENT:
        parent, key = THROUGH_PARENT[model]
        in_visible_parent = exists().where(
            col(parent.id) == key,
            conversation_id_visible(principal, parent.conversation_id, access),
        )
        return [in_visible_parent]
    if model is Component:
        return [_components(principal)] if access == Access.READ else [false()]
    if model is ComponentVersion:
        shared = exists().where(
            col(Component.id) == ComponentVersion.component_id, _components(principal)
        )
        return [shared] if access == Access.READ else [false()]
    return []


def visible_conversation_ids(principal: Principal) -> CompoundSelect[Any] | None:
    """The ids of the conversations the principal may read, as one set (None: every one).
    The same conversations as conversation_id_visible, in a form the planner can estimate
    (from the owner and participant indexes) and start from."""
    if principal.unrestricted:
        return None
    owned = select(col(Conversation.id)).where(_owns(principal, Conversation))
    member = select(col(Participant.conversation_id)).where(
        is_identity(principal, Participant.participant_type, Participant.participant_id),
        col(Participant.active).is_(True),
    )
    return union(owned, member)


def visible_by_membership(model: Any, principal: Principal) -> list[ColumnElement[bool]]:
    """visible(model, principal) for reading, spelled as membership of the row's
    conversation in visible_conversation_ids. For a table read in bulk by a caller who
    sees a small share of it (spans, scores): the correlated test of visible() hides that
    share from the planner, which then tests every row; this form lets it read only the
    caller's conversations' rows."""
    conversation_ids = visible_conversation_ids(principal)
    if conversation_ids is None:
        return []
    if model in IN_A_CONVERSATION:
        return [col(model.conversation_id).in_(conversation_ids)]
    parent, key = THROUGH_PARENT[model]
    in_parents = select(col(parent.id)).where(col(parent.conversation_id).in_(conversation_ids))
    return [col(key).in_(in_parents)]


class _Among(ColumnElement[bool]):
    """`column` among the ids a subquery selects, computed before the rest: see among."""

    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
    ]
    type = Boolean()

    def __init__(self, column: Any, ids: Select[Any] | CompoundSelect[Any]) -> None:
        self.column = column
        self.ids = ids


@compiles(_Among, "postgresql")
def _among_postgresql(element: _Among, compiler: Any, **kw: Any) -> str:
    ids = func.array(element.ids.scalar_subquery())
    return str(compiler.process(element.column == any_(ids), **kw))


@compiles(_Among)
def _among(element: _Among, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.in_(element.ids), **kw))


def among(column: Any, ids: Select[Any] | CompoundSelect[Any]) -> ColumnElement[bool]:
    """`column` among the ids `ids` selects, for reads that aggregate many rows. On
    PostgreSQL `= ANY(ARRAY(...))`: the set is computed once, first, and the planner,
    taking it for a few values, reads rows by index (bitmap scans, in page order) and
    tests each against the set. Given IN (...) instead, it hash-joined a scan of a
    whole table (millions of rows) for a caller who sees 1% of them, or re-ran the
    subquery for every row. On SQLite, IN."""
    return _Among(column, ids)


def among_visible_conversations(column: Any, principal: Principal) -> list[ColumnElement[bool]]:
    """`column` (a conversation id) among the principal's conversations: `among`."""
    conversation_ids = visible_conversation_ids(principal)
    return [] if conversation_ids is None else [among(column, conversation_ids)]
