"""The rows each level of a compiled query reads: the same tables, conditions, orders
and limits as the loaders and reads of the normal path, as subqueries correlated to
the level above.

Each level selects from its plain table inside a subquery, so the visibility
conditions of resolvers.access (which name the plain tables and correlate to them)
apply unchanged; the levels above see it only through the subquery's alias.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, func, literal_column, select

from models import Message
from resolvers.access import visible
from resolvers.pagination import Relation
from resolvers.principal import Principal
from resolvers.reads import path_to_root

MESSAGES: Table = Message.__table__  # type: ignore[attr-defined]


def table_rows(model: Any) -> Select[Any]:
    return select(*model.__table__.c)


def table_count(model: Any, where: Sequence[Any]) -> Any:
    """How many rows of `model` meet `where` (a root connection's totalCount)."""
    return select(func.count()).select_from(model).where(*where).scalar_subquery()


def limited(statement: Select[Any], order_by: Sequence[Any], limit: int | None) -> Any:
    statement = statement.order_by(*order_by)
    if limit is not None:
        # Written into the SQL, not bound: a plan is compiled per page size anyway
        # (cache.plan_key), and a generic plan cannot know a bound LIMIT, so PostgreSQL
        # took custom plans and planned the statement again at every execution.
        statement = statement.limit(literal_column(str(int(limit))))
    return statement.subquery()


def by_id(model: Any, key: Any, principal: Principal, outer: Any = None) -> Any:
    """The row `key` points at, if the principal may see it (Loaders.by_id)."""
    statement = table_rows(model).where(model.__table__.c.id == key, *visible(model, principal))
    return (statement if outer is None else statement.correlate(outer)).subquery()


def _under(relation: Relation, statement: Select[Any], outer: Any, where: Sequence[Any]) -> Any:
    for target, onclause in relation.joins:
        statement = statement.join(target, onclause)
    return statement.where(relation.parent == outer.c.id, *relation.where, *where).correlate(outer)


def relation_rows(
    relation: Relation,
    outer: Any,
    principal: Principal,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    limit: int | None = None,
) -> Any:
    """The rows under the row of `outer` (Loaders.rows_by, or page_by with a limit)."""
    statement = _under(
        relation, table_rows(relation.model), outer, [*where, *_access(relation, principal)]
    )
    return limited(statement, relation.ordering.order_by(reverse=False), limit)


def relation_count(
    relation: Relation,
    outer: Any,
    principal: Principal,
    *,
    where: Sequence[ColumnElement[bool]] = (),
) -> Any:
    """How many rows are under the row of `outer` (Loaders.count_by)."""
    counted = select(func.count()).select_from(relation.model)
    statement = _under(relation, counted, outer, [*where, *_access(relation, principal)])
    return statement.scalar_subquery()


def _access(relation: Relation, principal: Principal) -> list[Any]:
    return visible(relation.model, principal) if relation.checks_access else []


def on_latest_branch(conversation: Any) -> ColumnElement[bool]:
    """Messages on the path from the conversation's latest message up to the root:
    reads.branch_ids from the latest message of the conversation of the `conversation`
    row (the branch resolvers/branches.py walks). The path's own selects read aliases,
    so that nothing in them correlates to the messages table the condition is applied to."""
    leaf = MESSAGES.alias()
    start = (
        select(leaf.c.id, leaf.c.parent_message_id)
        .where(
            leaf.c.conversation_id == conversation.c.id,
            leaf.c.seq == conversation.c.last_message_seq,
        )
        .correlate(conversation)
    )
    return MESSAGES.c.id.in_(select(path_to_root(start, nesting=True).c.id))


def latest_message(conversation: Any) -> Any:
    """The conversation's latest message (reads.latest_messages, reads.LATEST_MESSAGE)."""
    messages = MESSAGES
    statement = table_rows(Message).where(
        messages.c.conversation_id == conversation.c.id,
        messages.c.seq == conversation.c.last_message_seq,
    )
    return statement.correlate(conversation).subquery()
