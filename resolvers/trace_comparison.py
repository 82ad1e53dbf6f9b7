"""`Trace.compare(other:)`: two runs side by side, for reproducible evaluation.

What each run started from (its initial state and config, compared key by key:
resolvers/json_diff.py), the component versions its spans used, and its figures.
Tokens, cost and duration are the traces' own columns; span and error counts are
counted in SQL, and the versions used are read as distinct pairs in SQL: per batch of
comparisons a statement each, whatever the size of the traces.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func
from sqlmodel import col, select

from models import Component, ComponentVersion, Span, SpanComponentVersion, Trace
from models.enums import SpanStatus
from resolvers.access import visible
from resolvers.context import Context
from resolvers.errors import NotFound
from resolvers.ids import to_global_id
from resolvers.json_diff import Differences, differences

# The state a run starts from: (the API's name, which prefixes each difference's path,
# and the column).
STATE = (
    ("initialMemoryState", "initial_memory_state"),
    ("initialConversationState", "initial_conversation_state"),
    ("systemConfig", "system_config"),
)


@dataclass(frozen=True)
class RunFigures:
    total_tokens: int
    cost: Decimal
    duration_ms: float | None  # None while a run is running
    span_count: int
    error_count: int  # spans with status ERROR

    def minus(self, other: RunFigures) -> RunFigures:
        """This run's figures less the other's."""
        duration = None
        if self.duration_ms is not None and other.duration_ms is not None:
            duration = self.duration_ms - other.duration_ms
        return RunFigures(
            self.total_tokens - other.total_tokens,
            self.cost - other.cost,
            duration,
            self.span_count - other.span_count,
            self.error_count - other.error_count,
        )


@dataclass(frozen=True)
class ComponentUse:
    """A component either run used, and the versions of it each used (visible ones)."""

    component: Component
    left: list[ComponentVersion]
    right: list[ComponentVersion]


@dataclass(frozen=True)
class TraceComparison:
    left: Trace
    right: Trace
    left_figures: RunFigures
    right_figures: RunFigures
    state: Differences
    components: list[ComponentUse]


async def compare_traces(ctx: Context, left: Trace, other_id: uuid.UUID) -> TraceComparison:
    """`left` (which the caller sees) beside the trace `other_id`: NOT_FOUND unless the
    caller sees that one too, as when it does not exist."""
    right = await ctx.loaders.by_id(Trace).load(other_id)
    if right is None:
        raise NotFound(f"Trace '{to_global_id('Trace', other_id)}' does not exist")
    ids = [left.id, right.id]
    left_counts, right_counts = await _span_counts(ctx).load_many(ids)
    left_used, right_used = await _versions_used(ctx).load_many(ids)
    pairs = [(name, getattr(left, column), getattr(right, column)) for name, column in STATE]
    return TraceComparison(
        left=left,
        right=right,
        left_figures=_figures(left, left_counts),
        right_figures=_figures(right, right_counts),
        state=differences(pairs),
        components=_uses(left_used, right_used),
    )


def _figures(trace: Trace, counts: tuple[int, int]) -> RunFigures:
    return RunFigures(trace.total_tokens, trace.cost, trace.duration_ms, *counts)


def _span_counts(ctx: Context) -> Any:
    """Loader: trace id -> (spans, spans with status ERROR), counted in one statement."""

    async def load(trace_ids: list[uuid.UUID]) -> list[tuple[int, int]]:
        errors = func.sum(case((col(Span.status) == SpanStatus.ERROR, 1), else_=0))
        statement = (
            select(col(Span.trace_id), func.count(), errors)
            .where(col(Span.trace_id).in_(trace_ids))
            .group_by(col(Span.trace_id))
        )
        found = {row[0]: (int(row[1]), int(row[2])) for row in await ctx.loaders.fetch(statement)}
        return [found.get(i, (0, 0)) for i in trace_ids]

    return ctx.loaders.custom("trace_span_counts", load)


Used = list[tuple[ComponentVersion, Component]]


def _versions_used(ctx: Context) -> Any:
    """Loader: trace id -> the component versions its spans used, with their components,
    in one statement: distinct (trace, version) pairs, of versions the caller sees."""

    async def load(trace_ids: list[uuid.UUID]) -> list[Used]:
        link = SpanComponentVersion
        pairs = (
            select(col(Span.trace_id), col(link.component_version_id))
            .join(link, col(link.span_id) == col(Span.id))
            .where(col(Span.trace_id).in_(trace_ids))
            .distinct()
            .subquery()
        )
        statement = (
            select(pairs.c.trace_id, ComponentVersion, Component)
            .join(ComponentVersion, col(ComponentVersion.id) == pairs.c.component_version_id)
            .join(Component, col(Component.id) == col(ComponentVersion.component_id))
            # A version is seen where its component is (joined here already).
            .where(*visible(Component, ctx.principal))
            .order_by(col(Component.key), col(ComponentVersion.version_number))
        )
        found: dict[uuid.UUID, Used] = defaultdict(list)
        for trace_id, version, component in await ctx.loaders.fetch(statement):
            found[trace_id].append((version, component))
        return [found[i] for i in trace_ids]

    return ctx.loaders.custom("trace_versions_used", load)


def _uses(left: Used, right: Used) -> list[ComponentUse]:
    """Per component either run used (by key), the versions each used."""
    components = {c.id: c for _, c in [*left, *right]}
    by_side: dict[uuid.UUID, tuple[list[ComponentVersion], list[ComponentVersion]]] = {
        i: ([], []) for i in components
    }
    for side, used in enumerate((left, right)):
        for version, component in used:
            by_side[component.id][side].append(version)
    ordered = sorted(components.values(), key=lambda c: c.key)
    return [ComponentUse(c, *by_side[c.id]) for c in ordered]
