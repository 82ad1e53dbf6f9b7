"""A conversation's branch read by walking it: from its leaf up the parents, one message
per step (a primary-key lookup), stopping as soon as the read has what it needs.

A child is always written after its parent, so seq falls along the walk: the walk meets
the branch newest first. "The newest N", "older than a cursor" and "what fits a budget"
are then where the walk stops, so such a read costs the messages it returns, not the
length of the conversation; a read from the root end (`first` oldest first, `last`
newest first) walks the whole branch, one lookup per message, and never reads the
conversation's other branches.

The walk carries ids, seqs and running sums (Tally) only; the rows a read keeps are
joined to the messages table by primary key at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import aliased
from sqlmodel import col

from models import Conversation, Message
from resolvers.context import Context
from resolvers.loaders import group
from resolvers.pagination import Ordering, Page, PageRequest, make_page
from resolvers.relations import by_seq


@dataclass(frozen=True)
class Tally:
    """A running sum down the walk of `value` (of a message, given as the Message entity
    or an alias of it). The walk stops after the first message that takes it past
    `limit`: that message is walked, so a read can tell that the limit was reached."""

    name: str
    value: Callable[[Any], ColumnElement[int]]
    limit: int | None = None


def _summed(tally: Tally, message: Any) -> ColumnElement[int]:
    # 64 bits in both terms of the walk: PostgreSQL wants their types equal, and sums of
    # tokens may pass 2^31.
    return cast(tally.value(message), BigInteger)


def _leaves(conversation_ids: Sequence[uuid.UUID], leaf_id: uuid.UUID | None) -> Any:
    """The leaf, or each conversation's latest message, as one lookup of the unique
    (conversation_id, seq) per conversation. As a join of conversations to messages,
    PostgreSQL estimated hundreds of rows, so it walked by hashing the whole messages
    table, rebuilt on every step once past work_mem (0.85 s for a window of 20 messages
    among 30,000)."""
    if leaf_id is not None:
        return col(Message.id) == leaf_id
    return or_(
        *(
            and_(
                col(Message.conversation_id) == conversation_id,
                col(Message.seq)
                == select(col(Conversation.last_message_seq))
                .where(col(Conversation.id) == conversation_id)
                .scalar_subquery(),
            )
            for conversation_id in conversation_ids
        )
    )


def walk(
    conversation_ids: Sequence[uuid.UUID],
    leaf_id: uuid.UUID | None,
    tallies: Sequence[Tally] = (),
    lowest_seq: int | None = None,
) -> CTE:
    """The branch to `leaf_id`, or to each conversation's latest message, newest first:
    (conversation_id, id, seq, parent_message_id, then each tally's sum so far), down to
    the root, to the message where a tally passed its limit, or to the last message whose
    seq is at least `lowest_seq`."""
    anchor = select(
        col(Message.conversation_id),
        col(Message.id),
        col(Message.seq),
        col(Message.parent_message_id),
        *(_summed(tally, Message).label(tally.name) for tally in tallies),
    ).where(_leaves(conversation_ids, leaf_id))
    walked = anchor.cte("branch_walk", recursive=True)
    parent = aliased(Message, name="parent")
    # A join on the parent's primary key, one lookup per step: the planner sizes the walk
    # from its start, which it knows is one row per conversation (_leaves).
    step = (
        select(
            col(parent.conversation_id),
            col(parent.id),
            col(parent.seq),
            col(parent.parent_message_id),
            *(walked.c[tally.name] + _summed(tally, parent) for tally in tallies),
        )
        .join(walked, col(parent.id) == walked.c.parent_message_id)
        .where(*(walked.c[t.name] <= t.limit for t in tallies if t.limit is not None))
    )
    if lowest_seq is not None:
        step = step.where(col(parent.seq) >= lowest_seq)
    return walked.union_all(step)


def _counted(cursor: str | None, limit: int | None, ordering: Ordering) -> Tally:
    """The messages older than `cursor` (all, without one), counted down the walk: a page
    read from the leaf end stops after limit + 1 of them, it then has its page and knows
    whether there are more."""
    older = ordering.decode(cursor)[0] if cursor is not None else None
    counted: Callable[[Any], ColumnElement[int]] = (
        (lambda m: literal(1))
        if older is None
        else (lambda m: case((col(m.seq) < older, 1), else_=0))
    )
    return Tally("counted", counted, limit)


def page_statement(
    conversation_ids: Sequence[uuid.UUID],
    leaf_id: uuid.UUID | None,
    request: PageRequest,
    ordering: Ordering,
) -> Select[Any]:
    """One page of each conversation's branch in `ordering` (by_seq, either way):
    (message, conversation id) pairs, by conversation, then in the page's order (reversed
    for a backward page)."""
    # Of the page's two cursors, one bounds it on the root's side, the other on the
    # leaf's: which is which follows from the list's direction. The walk stops at the
    # former; a page read from the leaf end stops once it has counted its rows.
    if ordering.descending:
        rootward, leafward = request.before, request.after
    else:
        rootward, leafward = request.after, request.before
    from_leaf = request.backward != ordering.descending
    counted = _counted(leafward, request.limit if from_leaf else None, ordering)
    lowest = ordering.decode(rootward)[0] if rootward is not None else None
    walked = walk(conversation_ids, leaf_id, [counted], lowest_seq=lowest)
    # The page's conditions and order on the walk's own columns: only the kept rows are
    # joined to their messages.
    on_walk = Ordering(walked.c.seq, walked.c.id, ordering.descending)
    rank = func.row_number().over(
        partition_by=walked.c.conversation_id, order_by=on_walk.order_by(request.backward)
    )
    ranked = (
        select(walked.c.id, walked.c.conversation_id.label("page_parent"), rank.label("rank"))
        .where(*request.conditions(on_walk))
        .subquery("ranked")
    )
    return (
        select(Message, ranked.c.page_parent)
        .join(ranked, ranked.c.id == col(Message.id))
        .where(ranked.c.rank <= request.limit + 1)
        .order_by(ranked.c.page_parent, ranked.c.rank)
    )


# (conversation, leaf or None: the latest message, page, newest first)
BranchKey = tuple[uuid.UUID, uuid.UUID | None, PageRequest, bool]


def branch_pages(ctx: Context) -> Any:
    """Pages of one branch per conversation: BranchKey -> Page. Keys with the same leaf,
    page and order share one statement."""

    async def load(keys: list[BranchKey]) -> list[Page[Any]]:
        groups: dict[tuple[uuid.UUID | None, PageRequest, bool], list[uuid.UUID]] = {}
        for conversation_id, leaf_id, request, newest_first in keys:
            groups.setdefault((leaf_id, request, newest_first), []).append(conversation_id)
        pages: dict[BranchKey, Page[Any]] = {}
        for (leaf_id, request, newest_first), conversation_ids in groups.items():
            ordering = by_seq(newest_first)
            statement = page_statement(conversation_ids, leaf_id, request, ordering)
            rows = await ctx.loaders.fetch(statement)
            ctx.loaders.known(Message, rows)
            grouped = group(conversation_ids, ((row[0], row[1]) for row in rows))
            for conversation_id, found in zip(conversation_ids, grouped, strict=True):
                key = (conversation_id, leaf_id, request, newest_first)
                pages[key] = make_page(found, request, ordering)
        return [pages[key] for key in keys]

    return ctx.loaders.custom("branch_pages", load)


def branch_counts(ctx: Context) -> Any:
    """How many messages each (conversation, leaf or None) branch has: keys without a
    leaf share one statement."""

    async def load(keys: list[tuple[uuid.UUID, uuid.UUID | None]]) -> list[int]:
        by_leaf: dict[uuid.UUID | None, list[uuid.UUID]] = {}
        for conversation_id, leaf_id in keys:
            by_leaf.setdefault(leaf_id, []).append(conversation_id)
        counts: dict[tuple[uuid.UUID, uuid.UUID | None], int] = {}
        for leaf_id, conversation_ids in by_leaf.items():
            walked = walk(conversation_ids, leaf_id)
            rows = await ctx.loaders.fetch(
                select(walked.c.conversation_id, func.count()).group_by(walked.c.conversation_id)
            )
            found = {row[0]: row[1] for row in rows}
            counts.update({(i, leaf_id): found.get(i, 0) for i in conversation_ids})
        return [counts[key] for key in keys]

    return ctx.loaders.custom("branch_counts", load)
