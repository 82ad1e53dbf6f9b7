"""Bounds on the running token totals of conversations and traces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import col

from resolvers.errors import Conflict

# The totals are GraphQL Ints (and INTEGER columns on PostgreSQL): 32-bit signed.
MAX_TOTAL = 2**31 - 1


def room_for(increments: Mapping[Any, Any]) -> list[ColumnElement[bool]]:
    """Conditions for an UPDATE adding each amount (a number, or an expression of the row)
    to its column (a model attribute): true while every sum stays within MAX_TOTAL.
    SQLite would store a larger sum, then fail every read of it."""
    # Not `column + amount <= MAX_TOTAL`: PostgreSQL's integer sum would overflow first.
    return [col(column) <= MAX_TOTAL - amount for column, amount in increments.items()]


def totals_full(owner: str) -> Conflict:
    return Conflict(
        f"the {owner}'s token totals would pass {MAX_TOTAL:,}, the largest they can hold; "
        f"record further usage in a new {owner}"
    )
