"""Keyset (cursor) pagination in SQL, for root lists and per-parent nested lists.

A cursor encodes the sort value and the row id of an edge, so a page is a range
scan on an index, not an OFFSET: pages stay stable while rows are inserted.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import aliased

from resolvers.errors import BadInput

T = TypeVar("T")


@dataclass(frozen=True)
class PageArgs:
    """The four Relay arguments, hashable so they can be part of a DataLoader key."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@dataclass(frozen=True)
class Ordering:
    """Sort by one column, ties broken by the primary key, in one direction."""

    column: Any
    key: Any
    descending: bool = False
    parse: Callable[[Any], Any] = lambda value: value

    def encode(self, row: Any) -> str:
        value = getattr(row, self.column.key)
        if isinstance(value, datetime):
            value = value.isoformat()
        raw = json.dumps([value, str(getattr(row, self.key.key))])
        return base64.urlsafe_b64encode(raw.encode()).decode()

    def decode(self, cursor: str) -> tuple[Any, uuid.UUID]:
        try:
            value, raw_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            return self.parse(value), uuid.UUID(raw_id)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise BadInput(f"'{cursor}' is not a valid cursor for this list") from None

    def order_by(self, reverse: bool) -> list[Any]:
        descending = self.descending != reverse
        return [c.desc() if descending else c.asc() for c in (self.column, self.key)]

    def beyond(self, cursor: str, *, reverse: bool) -> ColumnElement[bool]:
        """Rows strictly after `cursor` in this ordering (before it when `reverse`)."""
        value, row_id = self.decode(cursor)
        greater = self.descending == reverse
        if greater:
            return or_(self.column > value, and_(self.column == value, self.key > row_id))
        return or_(self.column < value, and_(self.column == value, self.key < row_id))


def parse_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class PageRequest:
    limit: int
    backward: bool
    after: str | None
    before: str | None

    @classmethod
    def from_args(cls, args: PageArgs, default_size: int, max_size: int) -> PageRequest:
        if args.first is not None and args.last is not None:
            raise BadInput("pass either `first` or `last`, not both")
        size = args.first if args.first is not None else args.last
        if size is None:
            size = default_size
        if size < 0:
            raise BadInput("page size (`first`/`last`) cannot be negative")
        if size > max_size:
            raise BadInput(f"page size {size} is above the maximum of {max_size}")
        return cls(limit=size, backward=args.last is not None, after=args.after, before=args.before)

    def conditions(self, ordering: Ordering) -> list[ColumnElement[bool]]:
        found = []
        if self.after is not None:
            found.append(ordering.beyond(self.after, reverse=False))
        if self.before is not None:
            found.append(ordering.beyond(self.before, reverse=True))
        return found


@dataclass
class Page(Generic[T]):
    rows: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


def make_page(rows: Sequence[T], request: PageRequest, ordering: Ordering) -> Page[T]:
    """Turn limit+1 fetched rows (in query order) into a page in list order."""
    extra = len(rows) > request.limit
    kept = list(rows[: request.limit])
    if request.backward:
        kept.reverse()
        has_previous, has_next = extra, request.before is not None
    else:
        has_next, has_previous = extra, request.after is not None
    return Page(
        rows=kept,
        cursors=[ordering.encode(row) for row in kept],
        has_next_page=has_next,
        has_previous_page=has_previous,
    )


def page_query(
    model: Any, where: Sequence[ColumnElement[bool]], request: PageRequest, ordering: Ordering
) -> Select[Any]:
    """One page of a root list: filters, cursor range, order, limit+1."""
    return (
        select(model)
        .where(*where, *request.conditions(ordering))
        .order_by(*ordering.order_by(reverse=request.backward))
        .limit(request.limit + 1)
    )


def partitioned_page_query(
    relation: Relation,
    parent_ids: Sequence[Any],
    where: Sequence[ColumnElement[bool]],
    request: PageRequest,
) -> Select[Any]:
    """The same page for many parents at once: one query, rows numbered per parent.

    Yields (row, parent id) pairs, in parent order then list order.
    """
    ordering = relation.ordering
    row_number = func.row_number().over(
        partition_by=relation.parent, order_by=ordering.order_by(reverse=request.backward)
    )
    ranked = relation.select(row_number.label("page_rank")).where(
        relation.parent.in_(parent_ids), *where, *request.conditions(ordering)
    )
    ranked_sub = ranked.subquery()
    row = aliased(relation.model, ranked_sub)
    return (
        select(row, ranked_sub.c.page_parent)
        .where(ranked_sub.c.page_rank <= request.limit + 1)
        .order_by(ranked_sub.c.page_parent, ranked_sub.c.page_rank)
    )


@dataclass(frozen=True, eq=False)
class Relation:
    """Rows of `model` grouped under the value of `parent` (a foreign key, maybe via a join).

    Instances are module constants; DataLoaders are cached per relation by identity.
    """

    model: Any
    parent: Any
    ordering: Ordering
    joins: tuple[tuple[Any, Any], ...] = ()
    where: tuple[ColumnElement[bool], ...] = ()

    def select(self, *extra: Any) -> Select[Any]:
        statement = select(self.model, self.parent.label("page_parent"), *extra)
        for target, onclause in self.joins:
            statement = statement.join(target, onclause)
        return statement.where(*self.where)
