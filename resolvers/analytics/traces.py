"""`Trace.analysis` and `Span.subtree`: a span tree measured by the database at read time.

Nothing is stored: subtree totals and the critical path are recursive CTEs over
`parent_span_id` as it is now, so a child that arrived before its parent (OTLP
ingestion links it when the parent comes) is counted under it as soon as it is linked.
Times are the spans' own timestamps as milliseconds (see epoch_ms); a span that has
not ended has no duration, no self or child time, and is never on the critical path.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import aliased
from sqlmodel import col

from models import Span
from models.enums import SpanKind, SpanStatus
from resolvers.analytics.sql import epoch_ms
from resolvers.context import Context
from resolvers.loaders import group
from resolvers.pagination import Ordering, Relation

ERROR_SPANS_OF_TRACE = Relation(
    Span,
    Span.trace_id,
    Ordering(Span.started_at, Span.id),
    where=(col(Span.status) == SpanStatus.ERROR,),
)


def _is_error() -> Any:
    return case((col(Span.status) == SpanStatus.ERROR, 1), else_=0)


def _later(a: Any, b: Any) -> Any:
    # GREATEST on PostgreSQL is max() on SQLite: CASE is spelled the same on both.
    return case((a > b, a), else_=b)


def _earlier(a: Any, b: Any) -> Any:
    return case((a < b, a), else_=b)


def span_times(trace_ids: Sequence[uuid.UUID]) -> Any:
    """Per span of the traces: its duration, child time and self time (ms).

    Child time is the time at least one child ran within the span: the union of the
    ended children's intervals, clipped to the span's, so parallel children are not
    counted twice and self time (duration - child time) is never negative. The union
    is a sweep in start order: each child adds what it runs past the latest end of
    the children before it."""
    spans = (
        select(
            col(Span.id).label("id"),
            col(Span.parent_span_id).label("parent_id"),
            epoch_ms(col(Span.started_at)).label("start_ms"),
            epoch_ms(col(Span.ended_at)).label("end_ms"),
        )
        .where(col(Span.trace_id).in_(trace_ids), col(Span.ended_at).is_not(None))
        .subquery("ended_spans")
    )
    child, parent = spans.alias("child"), spans.alias("parent")
    low = _later(child.c.start_ms, parent.c.start_ms)
    high = _earlier(child.c.end_ms, parent.c.end_ms)
    clipped = (
        select(parent.c.id.label("parent_id"), low.label("low"), high.label("high"))
        .join(parent, parent.c.id == child.c.parent_id)
        .where(high > low)
        .subquery("clipped")
    )
    before = func.max(clipped.c.high).over(
        partition_by=clipped.c.parent_id,
        order_by=(clipped.c.low, clipped.c.high),
        rows=(None, -1),
    )
    swept = select(
        clipped.c.parent_id,
        (clipped.c.high - _later(clipped.c.low, func.coalesce(before, clipped.c.low))).label(
            "added"
        ),
    ).subquery("swept")
    covered = (
        select(swept.c.parent_id, func.sum(_later(swept.c.added, 0.0)).label("child_ms"))
        .group_by(swept.c.parent_id)
        .subquery("covered")
    )
    duration = col(Span.duration_ms)
    child_ms = case((duration.is_(None), None), else_=func.coalesce(covered.c.child_ms, 0.0))
    return (
        select(Span, child_ms.label("child_ms"), (duration - child_ms).label("self_ms"))
        .outerjoin(covered, covered.c.parent_id == col(Span.id))
        .where(col(Span.trace_id).in_(trace_ids))
    )


@dataclass
class SpanTime:
    span: Span
    child_ms: float | None
    self_ms: float | None


@dataclass
class KindFigures:
    kind: SpanKind
    count: int
    total_ms: float
    self_ms: float
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float
    error_count: int
    first_start_ms: float
    last_end_ms: float | None


def span_times_by_trace(ctx: Context) -> Any:
    """Loader: trace id -> [SpanTime], by start."""

    async def load(trace_ids: list[uuid.UUID]) -> list[list[SpanTime]]:
        statement = span_times(trace_ids).order_by(col(Span.started_at), col(Span.id))
        rows = await ctx.loaders.fetch(statement)
        return group(trace_ids, ((SpanTime(*row), row[0].trace_id) for row in rows))

    return ctx.loaders.custom("span_times_by_trace", load)


def kinds_by_trace(ctx: Context) -> Any:
    """Loader: trace id -> [KindFigures] for the kinds its spans have, by kind."""

    async def load(trace_ids: list[uuid.UUID]) -> list[list[KindFigures]]:
        times = span_times(trace_ids).subquery("span_times")
        zero = literal(0.0)
        statement = (
            select(
                times.c.trace_id,
                times.c.kind,
                func.count(),
                func.coalesce(func.sum(times.c.duration_ms), zero),
                func.coalesce(func.sum(times.c.self_ms), zero),
                func.sum(times.c.input_tokens),
                func.sum(times.c.output_tokens),
                func.sum(times.c.total_tokens),
                func.sum(times.c.cost),
                func.sum(case((times.c.status == SpanStatus.ERROR, 1), else_=0)),
                func.min(epoch_ms(times.c.started_at)),
                func.max(epoch_ms(times.c.ended_at)),
            )
            .group_by(times.c.trace_id, times.c.kind)
            .order_by(times.c.kind)
        )
        rows = await ctx.loaders.fetch(statement)
        return group(trace_ids, ((KindFigures(*row[1:]), row[0]) for row in rows))

    return ctx.loaders.custom("kinds_by_trace", load)


def _last_ended(parent_condition: Any) -> Any:
    """The id of the span ending last among those matching `parent_condition` (ties:
    the one started first, the longer one; then by id, so the answer is always one)."""
    candidate = aliased(Span)
    return (
        select(col(candidate.id))
        .where(parent_condition(candidate), col(candidate.ended_at).is_not(None))
        .order_by(col(candidate.ended_at).desc(), col(candidate.started_at), col(candidate.id))
        .limit(1)
        .scalar_subquery()
    )


def critical_paths(ctx: Context) -> Any:
    """Loader: trace id -> the spans of its critical path, root first.

    The path starts at the root span that ended last (a trace may have several roots:
    spans whose parent has not arrived) and repeatedly follows the child that ended
    last, down to a span without ended children: the chain that bounds when the trace
    ended. Only the spans on the path are read, one correlated lookup per level."""

    async def load(trace_ids: list[uuid.UUID]) -> list[list[Span]]:
        roots = select(col(Span.trace_id)).where(col(Span.trace_id).in_(trace_ids)).distinct()
        traces = roots.subquery("traced")
        first = _last_ended(
            lambda s: and_(col(s.trace_id) == traces.c.trace_id, col(s.parent_span_id).is_(None))
        )
        path = select(first.label("id"), literal(1).label("depth")).select_from(traces)
        path_cte = path.cte("critical_path", recursive=True)
        step = select(
            _last_ended(lambda s: col(s.parent_span_id) == path_cte.c.id).label("id"),
            (path_cte.c.depth + 1).label("depth"),
        ).where(path_cte.c.id.is_not(None))
        path_cte = path_cte.union_all(step)
        rows = await ctx.loaders.fetch(
            select(Span)
            .join(path_cte, path_cte.c.id == col(Span.id))
            .order_by(col(Span.trace_id), path_cte.c.depth)
        )
        return group(trace_ids, ((row[0], row[0].trace_id) for row in rows))

    return ctx.loaders.custom("critical_paths", load)


@dataclass
class SubtreeFigures:
    span_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    error_count: int = 0


def subtrees(ctx: Context) -> Any:
    """Loader: span id -> SubtreeFigures of the span and every span below it."""

    async def load(span_ids: list[uuid.UUID]) -> list[SubtreeFigures]:
        tree: Any = select(col(Span.id).label("top"), col(Span.id).label("node")).where(
            col(Span.id).in_(span_ids)
        )
        tree_cte = tree.cte("subtree", recursive=True)
        below = select(tree_cte.c.top, col(Span.id)).join(
            tree_cte, col(Span.parent_span_id) == tree_cte.c.node
        )
        # UNION, not UNION ALL: should stored parents ever form a cycle, it still ends.
        tree_cte = tree_cte.union(below)
        rows = await ctx.loaders.fetch(
            select(
                tree_cte.c.top,
                func.count(),
                func.sum(col(Span.input_tokens)),
                func.sum(col(Span.output_tokens)),
                func.sum(col(Span.total_tokens)),
                func.sum(col(Span.cost)),
                func.sum(_is_error()),
            )
            .join(Span, col(Span.id) == tree_cte.c.node)
            .group_by(tree_cte.c.top)
        )
        found = {row[0]: SubtreeFigures(*row[1:]) for row in rows}
        return [found.get(i, SubtreeFigures()) for i in span_ids]

    return ctx.loaders.custom("subtrees", load)
