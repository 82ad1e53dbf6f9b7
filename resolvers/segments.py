"""A page of a list that no single index gives in order, read as several index ranges.

Each segment is a part of the list that one range of an index does give in list order
(the spans of one kind by duration, say); the page is each segment's own page, merged:
at most limit+1 rows a segment, however long the list. Used by the root span list
(resolvers/analytics/spans.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select, union_all
from sqlalchemy.orm import aliased

from resolvers.pagination import Ordering, PageRequest


@dataclass(frozen=True)
class Segment:
    """Rows of a list that one range of an index gives in list order (by value, then key)."""

    where: tuple[ColumnElement[bool], ...]
    # Columns with one value in the segment that lead its index, named first in its order:
    # PostgreSQL takes `= x`, not `IS NULL`, as fixing a column's place in an index.
    leading: tuple[Any, ...] = ()
    # Every row holds this one sort value (null, zero): cursors bound the segment by key.
    holds_one_value: bool = False
    value: Any = None

    def bounds(self, request: PageRequest, ordering: Ordering) -> list[ColumnElement[bool]]:
        if self.holds_one_value:
            return request.constant_conditions(ordering, self.value)
        return request.sorted_conditions(ordering)


def segmented_page_query(
    model: Any,
    where: Sequence[ColumnElement[bool]],
    segments: Sequence[Segment],
    request: PageRequest,
    ordering: Ordering,
) -> Select[Any]:
    """page_query() read segment by segment: each segment's page, then the first limit+1
    of their union in list order."""
    reverse = request.backward
    pages = []
    for segment in segments:
        order = [
            *ordering.sorted_order(reverse, columns=segment.leading),
            *ordering.sorted_order(reverse),
        ]
        own = select(model).where(*where, *segment.where, *segment.bounds(request, ordering))
        # A subquery each: SQLite takes no ORDER BY or LIMIT in a member of a UNION.
        pages.append(select(own.order_by(*order).limit(request.limit + 1).subquery()))
    merged = aliased(model, union_all(*pages).subquery("segments"))
    return select(merged).order_by(*ordering.order_by(reverse, on=merged)).limit(request.limit + 1)
