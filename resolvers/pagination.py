"""Keyset (cursor) pagination in SQL, for root lists and per-parent nested lists.

A cursor encodes the sort value and the row id of an edge, so a page is a range
scan on an index, not an OFFSET: pages stay stable while rows are inserted.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Select,
    SmallInteger,
    String,
    TypeDecorator,
    and_,
    false,
    func,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import aliased

from models.base import Money, from_nanos, to_nanos
from resolvers.errors import BadInput
from resolvers.validation import parse_datetime

T = TypeVar("T")


@dataclass(frozen=True)
class PageArgs:
    """The four Relay arguments, hashable so they can be part of a DataLoader key."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


def parse_int(value: Any, bits: int) -> int:
    # JSON true/false decode to bool, an int subclass: not a cursor value either.
    limit = 2 ** (bits - 1)
    if type(value) is not int or not -limit <= value < limit:
        raise ValueError(f"not a {bits}-bit integer")
    return value


def integer_bits(sql_type: Integer) -> int:
    # PostgreSQL's INTEGER is 32 bits: a larger parameter fails the query, so a
    # value its column cannot hold is no cursor of ours.
    if isinstance(sql_type, BigInteger):
        return 64
    return 16 if isinstance(sql_type, SmallInteger) else 32


def parse_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


def parse_float(value: Any) -> float:
    # json.loads reads NaN and Infinity, which no column of ours holds.
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError("not a finite number")
    return float(value)


def _parse_money(value: Any, bits: int) -> Decimal:
    return from_nanos(parse_int(value, bits=bits))


def parse_uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(parse_str(value))


def nullable(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else parse(value)


def value_parser(column: Any) -> Callable[[Any], Any]:
    """The strict parser of cursor values for a column, chosen from its SQL type.

    Taking it from the column means no ordering can forget to validate its
    values; a column of another type fails here, at import, not on a request.
    """
    sql_type = column.type
    if isinstance(sql_type, Money):
        # A cost travels as its whole nano-dollars, exact (as it is stored).
        return partial(_parse_money, bits=64)
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl_instance
    if isinstance(sql_type, Integer):
        return partial(parse_int, bits=integer_bits(sql_type))
    for kind, parser in ((DateTime, parse_datetime), (String, parse_str), (Float, parse_float)):
        if isinstance(sql_type, kind):
            return nullable(parser) if column.nullable else parser
    raise TypeError(f"no cursor values for {column} of type {sql_type}")


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def decode_cursor(cursor: str, *parsers: Callable[[Any], Any], of: str) -> list[Any]:
    """The values of a cursor made by encode_cursor, each read by its parser.

    Cursors come from clients: a forged one must be refused here, as BAD_USER_INPUT,
    never reach the database as a value of the wrong type or beyond its column's range.
    """
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(decoded, list) or len(decoded) != len(parsers):
            raise ValueError(f"not a list of {len(parsers)} values")
        return [parse(value) for parse, value in zip(parsers, decoded, strict=True)]
    except (ValueError, TypeError, OverflowError, RecursionError):
        # binascii.Error and UnicodeDecodeError are ValueErrors too; OverflowError is an
        # integer no double can hold; RecursionError, JSON nested deeper than Python goes.
        raise BadInput(f"'{cursor}' is not a valid cursor for {of}") from None


@dataclass(frozen=True)
class Ordering:
    """Sort by one column, ties broken by the primary key, in one direction.

    Nulls of a nullable column (a running span's duration) come last in list order,
    whichever the direction, on both databases (each has its own default)."""

    column: Any
    key: Any
    descending: bool = False
    # Parses a cursor's sort value: follows from the column, so it is not an argument.
    parse: Callable[[Any], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parse", value_parser(self.column))

    def encode(self, row: Any) -> str:
        value = getattr(row, self.column.key)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = to_nanos(value)
        return encode_cursor(value, str(getattr(row, self.key.key)))

    def decode(self, cursor: str) -> tuple[Any, uuid.UUID]:
        """The sort value and row id of a cursor, each checked against its column."""
        value, row_id = decode_cursor(cursor, self.parse, parse_uuid, of="this list")
        return value, row_id

    def sorted_order(self, reverse: bool, columns: Sequence[Any] | None = None) -> list[Any]:
        """By value then key (or by `columns`) in the list's direction, reversed for a
        backward page: the order of an index on them, read forwards or backwards. Nulls
        are where each database's default puts them: for rows whose value is not null."""
        descending = self.descending != reverse
        found = (self.column, self.key) if columns is None else columns
        return [c.desc() if descending else c.asc() for c in found]

    def order_by(self, reverse: bool, on: Any = None) -> list[Any]:
        """The list order; `on`: an alias of the model (a subquery of its rows)."""
        columns = None if on is None else [getattr(on, c.key) for c in (self.column, self.key)]
        found = self.sorted_order(reverse, columns)
        if self.column.nullable:
            # Reversed (a backward page), the nulls that end the list come first.
            found[0] = found[0].nulls_first() if reverse else found[0].nulls_last()
        return found

    def beyond(self, cursor: str, *, reverse: bool) -> ColumnElement[bool]:
        """Rows strictly after `cursor` in this ordering (before it when `reverse`)."""
        found = self.sorted_beyond(cursor, reverse=reverse)
        if not self.column.nullable:
            return found
        among_nulls = self.constant_beyond(cursor, None, reverse=reverse)
        return or_(and_(self.column.is_not(None), found), and_(self.column.is_(None), among_nulls))

    def sorted_beyond(self, cursor: str, *, reverse: bool) -> ColumnElement[bool]:
        """beyond() among the rows whose value is not null, as a row comparison: both
        databases read it as a range of an index on (column, key), where the OR of
        value and key comparisons is read from the index's start."""
        value, row_id = self.decode(cursor)
        if value is None:
            # The cursor is among the nulls that end the list: every value is before it.
            return true() if reverse else false()
        pair = tuple_(self.column, self.key)
        # A plain tuple of values: each is bound as its column's type (a cost as nanos).
        return pair > (value, row_id) if self.descending == reverse else pair < (value, row_id)

    def constant_beyond(self, cursor: str, constant: Any, *, reverse: bool) -> ColumnElement[bool]:
        """beyond() among rows that all hold `constant` (null, say): all of them, none, or
        those past the cursor's key when the cursor holds that value too."""
        value, row_id = self.decode(cursor)
        if value == constant:
            greater = self.descending == reverse
            return self.key > row_id if greater else self.key < row_id
        further = self._precedes(constant, value) if reverse else self._precedes(value, constant)
        return true() if further else false()

    def _precedes(self, a: Any, b: Any) -> bool:
        """Value `a` comes before value `b` in list order (nulls last)."""
        if a is None or b is None:
            return b is None and a is not None
        return bool(a > b if self.descending else a < b)


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
        return self._bounds(ordering.beyond)

    def sorted_conditions(self, ordering: Ordering) -> list[ColumnElement[bool]]:
        """conditions() among the rows whose value is not null."""
        return self._bounds(ordering.sorted_beyond)

    def constant_conditions(self, ordering: Ordering, constant: Any) -> list[ColumnElement[bool]]:
        """conditions() among rows that all hold `constant`."""
        return self._bounds(partial(ordering.constant_beyond, constant=constant))

    def _bounds(self, beyond: Callable[..., ColumnElement[bool]]) -> list[ColumnElement[bool]]:
        found = []
        if self.after is not None:
            found.append(beyond(self.after, reverse=False))
        if self.before is not None:
            found.append(beyond(self.before, reverse=True))
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


def gathered_page_query(
    model: Any, where: Sequence[ColumnElement[bool]], request: PageRequest, ordering: Ordering
) -> Select[Any]:
    """page_query() for a filter that holds for a small share of the rows (a signed-in
    caller's own, a few conversations'): every match found, then sorted. A subquery with an
    OFFSET is planned on its own: otherwise PostgreSQL may walk an index in list order and
    test each row against the filter one by one (0.2 s at L for a caller's newest spans)."""
    found = select(model).where(*where, *request.conditions(ordering)).offset(0)
    gathered = aliased(model, found.subquery("gathered"))
    order = ordering.order_by(request.backward, on=gathered)
    return select(gathered).order_by(*order).limit(request.limit + 1)


def partitioned_page_query(
    relation: Relation,
    parent_ids: Sequence[Any],
    where: Sequence[ColumnElement[bool]],
    request: PageRequest,
) -> Select[Any]:
    """The same page for many parents at once: one query, rows numbered per parent.

    Yields (row, parent id) pairs, in parent order then list order (reversed for a
    backward page).
    """
    ordering = relation.ordering
    if len(parent_ids) == 1:
        # One parent (a trace's spans, a conversation's messages): a range of an index in
        # the page's order, limit + 1 rows read, where numbering the rows would read all of
        # the parent's (20,000 spans for a page of 50).
        return (
            relation.select()
            .where(relation.parent == parent_ids[0], *where, *request.conditions(ordering))
            .order_by(*ordering.order_by(reverse=request.backward))
            .limit(request.limit + 1)
        )
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
    # From shared rows into conversations (a component version's spans): each row's
    # visibility must be checked, as a visible parent does not vouch for it.
    checks_access: bool = False

    def select(self, *extra: Any) -> Select[Any]:
        statement = select(self.model, self.parent.label("page_parent"), *extra)
        for target, onclause in self.joins:
            statement = statement.join(target, onclause)
        return statement.where(*self.where)
