"""`usage(orderBy:, first:)`: groups ordered by a measure, the first N of them.

A summed measure (or no order: key order) is ordered and cut in the sums' SQL
(resolvers.analytics.usage.sums_statement), so that only the kept groups' latencies
are read; a latency measure is ordered here, once every group's latencies are known.
Either way ties keep key order and groups without a latency come last, in both
directions.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Float, cast, func, select
from sqlmodel import col

from models import Conversation
from resolvers.access import among_visible_conversations
from resolvers.analytics.usage_query import (
    MAX_FIRST,
    UsageGroup,
    UsageGroupBy,
    UsageMeasure,
    UsageOrder,
    UsageQuery,
)
from resolvers.context import Context
from resolvers.errors import BadInput

# The roll-up sum (resolvers.analytics.usage_rollups.SUMMED) each summed measure is.
SUMMED_AS = {
    UsageMeasure.COUNT: "calls",
    UsageMeasure.INPUT_TOKENS: "input_tokens",
    UsageMeasure.OUTPUT_TOKENS: "output_tokens",
    UsageMeasure.TOTAL_TOKENS: "total_tokens",
    UsageMeasure.COST: "cost",
    UsageMeasure.ERROR_COUNT: "errors",
}


def check_first(q: UsageQuery) -> None:
    if q.first is not None and not 1 <= q.first <= MAX_FIRST:
        raise BadInput(f"`first` must be between 1 and {MAX_FIRST}")


def sql_order(q: UsageQuery, sums: dict[str, Any], keys: list[Any]) -> list[Any]:
    """The sums' ORDER BY: by a summed measure if that is the order, then by the keys."""
    by_keys = [key.asc().nulls_last() for key in keys]
    if q.order is None or q.ordered_by_latency:
        return by_keys
    value = _summed(q.order.measure, sums)
    return [value.desc() if q.order.descending else value.asc(), *by_keys]


def _summed(measure: UsageMeasure, sums: dict[str, Any]) -> Any:
    if measure is UsageMeasure.ERROR_RATE:
        # As UsageGroup.error_rate: 0 with no calls (the one group of nothing).
        rate = cast(sums["errors"], Float) / func.nullif(sums["calls"], 0)
        return func.coalesce(rate, 0.0)
    return sums[SUMMED_AS[measure]]


def sql_limit(q: UsageQuery) -> int | None:
    """How many groups the sums' SQL keeps: all when the order needs latencies."""
    return None if q.ordered_by_latency else q.first


def ordered(q: UsageQuery, groups: list[UsageGroup]) -> list[UsageGroup]:
    """Groups in key order (or already ordered by the SQL, which this keeps) in the
    query's order, the first `first` of them."""
    if q.order is not None:
        order = q.order
        groups = sorted(groups, key=lambda group: _rank(order, group))
    return groups[: q.first]


def _rank(order: UsageOrder, group: UsageGroup) -> tuple[bool, Any]:
    value = getattr(group, order.measure.value)
    if value is None:
        return True, 0
    return False, -value if order.descending else value


# The conversation columns that hold its all-time usage (resolvers.writes.totals keeps
# them from the same rows), each read in order from its (value, id) index (migration 0023).
CONVERSATION_TOTALS = {
    UsageMeasure.COST: col(Conversation.cost),
    UsageMeasure.TOTAL_TOKENS: col(Conversation.total_tokens),
}
# Past this many conversations tied with the Nth (times N), the sums pick the top.
TIED_CAP = 10


async def top_conversations(ctx: Context, q: UsageQuery) -> list[uuid.UUID] | None:
    """For the top N conversations by all-time cost or tokens, with no other filter: the
    conversations whose total reaches the Nth largest, read from their totals' index,
    which the answer's N groups are among (ties on the Nth value included); None where
    the totals cannot tell (a time range or a filter, an order the totals do not hold,
    ascending, a Nth total of 0 which conversations without usage share, or too many
    ties). The sums of the few are then read instead of every conversation's hours:
    over 100k conversations, 1 s became (see bench/scale_reads.py) a few ms."""
    measure = q.order.measure if q.order is not None else None
    if (
        list(q.group_by) != [UsageGroupBy.CONVERSATION]
        or q.first is None
        or q.order is None
        or not q.order.descending
        or measure not in CONVERSATION_TOTALS
        or q.started_from is not None
        or q.started_to is not None
        or q.kinds
        or q.models
        or q.providers
        or q.user_id is not None
        or q.component_ids is not None
    ):
        return None
    total = CONVERSATION_TOTALS[measure]
    found = among_visible_conversations(col(Conversation.id), ctx.principal)
    if q.conversation_ids is not None:
        found.append(col(Conversation.id).in_(q.conversation_ids))
    nth = (
        select(total).where(*found).order_by(total.desc()).offset(q.first - 1).limit(1)
    ).scalar_subquery()
    reaching = (
        select(col(Conversation.id))
        .where(*found, total >= nth, nth > 0)
        .limit(q.first * TIED_CAP + 1)
    )
    ids = [row[0] for row in await ctx.loaders.fetch(reaching)]
    return ids if ids and len(ids) <= q.first * TIED_CAP else None
