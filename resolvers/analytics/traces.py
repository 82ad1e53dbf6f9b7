"""`Trace.analysis` and `Span.subtree`: each trace's span tree, read once per request.

Nothing is stored: a batch of traces reads the measured columns of its spans in one
statement (by trace id, on the (trace_id, started_at, id) index) and
resolvers/analytics/span_tree.py measures each tree in Python. So the cost follows the
traces asked for, not the size of the table (a recursive CTE over parent_span_id was
estimated by the planner at thousands of times its real size, and joined to a scan of
every span), and a child that arrived before its parent (OTLP ingestion links it when
the parent comes) counts under it as soon as it is linked.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from models import Span
from resolvers.analytics.span_tree import SpanFacts, SpanTree
from resolvers.context import Context
from resolvers.loaders import group

# The columns of SpanFacts, in its order.
FACTS = (
    Span.id,
    Span.parent_span_id,
    Span.kind,
    Span.status,
    Span.started_at,
    Span.ended_at,
    Span.duration_ms,
    Span.input_tokens,
    Span.output_tokens,
    Span.total_tokens,
    Span.cost,
)


def span_trees(ctx: Context) -> Any:
    """Loader: trace id -> the SpanTree of its spans (the caller saw the trace, so all
    its spans are visible)."""

    async def load(trace_ids: list[uuid.UUID]) -> list[SpanTree]:
        rows = await ctx.loaders.fetch(
            select(col(Span.trace_id), *(col(c) for c in FACTS)).where(
                col(Span.trace_id).in_(trace_ids)
            )
        )
        spans = group(trace_ids, ((SpanFacts(*row[1:]), row[0]) for row in rows))
        return [SpanTree(found) for found in spans]

    return ctx.loaders.custom("span_trees", load)
