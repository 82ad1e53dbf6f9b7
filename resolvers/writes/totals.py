"""The running usage totals of conversations and traces, and their bounds."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, inspect, literal, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import from_nanos, to_nanos
from resolvers.errors import Conflict

# The totals are BIGINT columns, shown as GraphQL Longs: JSON numbers, which JavaScript
# clients read as doubles. Kept within 2^53 - 1, every total reads back exact anywhere.
MAX_TOTAL = 2**53 - 1


def room_for(increments: Mapping[Any, Any]) -> list[ColumnElement[bool]]:
    """Conditions for an UPDATE adding each amount (a number, or an expression of the row;
    negative to take usage back) to its column (a model attribute): true while every sum
    stays within MAX_TOTAL."""
    return [col(column) + amount <= MAX_TOTAL for column, amount in increments.items()]


def totals_full(owner: str) -> Conflict:
    return Conflict(
        f"the {owner}'s token totals would pass {MAX_TOTAL:,}, the largest they can hold; "
        f"record further usage in a new {owner}"
    )


@dataclass(frozen=True)
class Usage:
    """What model calls used: the amounts every roll-up adds up."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal(0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
            self.cost + other.cost,
        )

    def __neg__(self) -> Usage:
        return Usage(-self.input_tokens, -self.output_tokens, -self.total_tokens, -self.cost)

    def __bool__(self) -> bool:
        return any((self.input_tokens, self.output_tokens, self.total_tokens, self.cost))

    @classmethod
    def of(cls, row: Any) -> Usage:
        """The usage columns of a message or span (an object or a row's mapping)."""
        values: Mapping[str, Any] = (
            row if isinstance(row, Mapping) else {name: getattr(row, name) for name in USAGE}
        )
        # A cost not read back yet is what the writer gave: maybe a float.
        return cls(
            int(values["input_tokens"]),
            int(values["output_tokens"]),
            int(values["total_tokens"]),
            from_nanos(to_nanos(values["cost"])),
        )


TOKENS = ("input_tokens", "output_tokens", "total_tokens")
USAGE = (*TOKENS, "cost")


def per_row(values: Mapping[uuid.UUID, Any], key: Any, type_: Any) -> Any:
    """The amount each row adds, as one typed literal or a CASE on the row's key."""
    if len(set(values.values())) == 1:
        return literal(next(iter(values.values())), type_)
    return case({k: literal(v, type_) for k, v in values.items()}, value=key)


async def add_usage(
    session: AsyncSession, model: Any, added: Mapping[uuid.UUID, Usage], owner: str
) -> None:
    """Add usage to the roll-ups of conversations or traces (those columns of USAGE the
    table has), in one UPDATE; the increments are made in SQL, so concurrent writers lose
    none. Conflict when a total would pass MAX_TOTAL."""
    added = {row_id: usage for row_id, usage in added.items() if usage}
    if not added:
        return
    columns = inspect(model).columns
    amounts = {
        name: per_row(
            {k: getattr(u, name) for k, u in added.items()}, col(model.id), columns[name].type
        )
        for name in USAGE
        if name in columns
    }
    tokens = {getattr(model, n): a for n, a in amounts.items() if n != "cost"}
    result = await session.exec(
        update(model)
        .where(col(model.id).in_(added), *room_for(tokens))
        .values({name: getattr(model, name) + amount for name, amount in amounts.items()})
        .returning(col(model.id))
        .execution_options(synchronize_session=False)
    )
    if len(result.all()) < len(added):
        raise totals_full(owner)
