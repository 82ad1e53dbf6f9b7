"""A trace's span tree measured in Python: child and self time, time by kind, the critical
path and subtree totals.

Pure functions of the spans' own columns (resolvers/analytics/traces.py reads them, one
statement per batch of traces), so the work follows the size of the trace, never of the
table. Times are exact differences of the stored timestamps, as milliseconds; a span
that has not ended has no duration, no self or child time, and is never on the critical
path.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

from models.enums import SpanKind, SpanStatus


class SpanFacts(NamedTuple):
    """The columns of a span that the measurements read. A tuple: a trace's spans are
    made from their rows by the tens of thousands."""

    id: uuid.UUID
    parent_id: uuid.UUID | None
    kind: SpanKind
    status: SpanStatus
    started_at: datetime
    ended_at: datetime | None
    duration_ms: float | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: Decimal


class SpanTime(NamedTuple):
    span: SpanFacts
    child_ms: float | None
    self_ms: float | None


@dataclass
class KindFigures:
    kind: SpanKind
    count: int = 0
    total_ms: float = 0.0
    self_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal(0)
    error_count: int = 0
    first_start: datetime | None = None
    last_end: datetime | None = None

    def add(self, time: SpanTime) -> None:
        s = time.span
        self.count += 1
        self.total_ms += s.duration_ms or 0.0
        self.self_ms += time.self_ms or 0.0
        self.input_tokens += s.input_tokens
        self.output_tokens += s.output_tokens
        self.total_tokens += s.total_tokens
        self.cost += s.cost
        self.error_count += s.status == SpanStatus.ERROR
        if self.first_start is None or s.started_at < self.first_start:
            self.first_start = s.started_at
        if s.ended_at is not None and (self.last_end is None or s.ended_at > self.last_end):
            self.last_end = s.ended_at


@dataclass(frozen=True)
class SubtreeFigures:
    span_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)
    error_count: int = 0

    @classmethod
    def total(cls, spans: Iterable[SpanFacts]) -> SubtreeFigures:
        found = list(spans)
        return cls(
            span_count=len(found),
            input_tokens=sum(s.input_tokens for s in found),
            output_tokens=sum(s.output_tokens for s in found),
            total_tokens=sum(s.total_tokens for s in found),
            cost=sum((s.cost for s in found), Decimal(0)),
            error_count=sum(s.status == SpanStatus.ERROR for s in found),
        )

    def __add__(self, other: SubtreeFigures) -> SubtreeFigures:
        return SubtreeFigures(
            self.span_count + other.span_count,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
            self.cost + other.cost,
            self.error_count + other.error_count,
        )


def child_ms(span: SpanFacts, children: Sequence[SpanFacts]) -> float | None:
    """The time at least one ended child ran within the span: the union of the children's
    intervals, clipped to the span's, so parallel children count once and self time
    (duration - child time) is never negative. A sweep in start order: each child adds
    what it runs past the latest end of the children before it."""
    if span.duration_ms is None:
        return None
    if span.ended_at is None or not children:
        # Most spans are leaves: nothing to sort.
        return 0.0
    clipped = sorted(
        (max(c.started_at, span.started_at), min(c.ended_at, span.ended_at))
        for c in children
        if c.ended_at is not None
    )
    covered, reach = timedelta(0), None
    for low, high in clipped:
        start = low if reach is None else max(low, reach)
        if high > start:
            covered += high - start
            reach = high
    return covered / timedelta(milliseconds=1)


def _last_ended(candidates: Sequence[SpanFacts]) -> SpanFacts | None:
    """The candidate that ended last; ties: the one started first, then the lower id
    (the candidates come by start, then id, and max keeps the first of equals)."""
    ends = {s: s.ended_at for s in candidates if s.ended_at is not None}
    return max(ends, key=ends.__getitem__, default=None)


class SpanTree:
    """The spans of one trace, by start then id, with their children."""

    def __init__(self, spans: Iterable[SpanFacts]) -> None:
        self.spans = sorted(spans, key=lambda s: (s.started_at, s.id))
        self.children: dict[uuid.UUID | None, list[SpanFacts]] = defaultdict(list)
        for span in self.spans:
            self.children[span.parent_id].append(span)

    @property
    def started_at(self) -> datetime | None:
        return self.spans[0].started_at if self.spans else None

    @cached_property
    def ended_at(self) -> datetime | None:
        return max((s.ended_at for s in self.spans if s.ended_at is not None), default=None)

    @cached_property
    def times(self) -> list[SpanTime]:
        found = []
        for span in self.spans:
            child = child_ms(span, self.children.get(span.id, ()))
            own = None if child is None or span.duration_ms is None else span.duration_ms - child
            found.append(SpanTime(span, child, own))
        return found

    @cached_property
    def kinds(self) -> list[KindFigures]:
        """By kind (in its name's order), for the kinds the spans have."""
        by_kind: dict[SpanKind, KindFigures] = {}
        for time in self.times:
            by_kind.setdefault(time.span.kind, KindFigures(time.span.kind)).add(time)
        return [by_kind[kind] for kind in sorted(by_kind)]

    def critical_path(self) -> list[SpanFacts]:
        """From the root span that ended last (a trace may have several roots: spans whose
        parent has not arrived), at each level the child that ended last, down to a span
        without ended children: the chain that bounds when the trace ended."""
        path: list[SpanFacts] = []
        step = _last_ended(self.children.get(None, ()))
        while step is not None:
            path.append(step)
            step = _last_ended(self.children.get(step.id, ()))
        return path

    def errors(self) -> list[SpanFacts]:
        return [s for s in self.spans if s.status == SpanStatus.ERROR]

    @cached_property
    def _below_roots(self) -> dict[uuid.UUID, SubtreeFigures]:
        """Subtree totals of every span under a root, children before their parents."""
        found: dict[uuid.UUID, SubtreeFigures] = {}
        stack = [(root, False) for root in self.children.get(None, ())]
        while stack:
            span, children_done = stack.pop()
            below = self.children.get(span.id, ())
            if children_done:
                totals = (found[child.id] for child in below)
                found[span.id] = sum(totals, SubtreeFigures.total([span]))
            else:
                stack.append((span, True))
                stack.extend((child, False) for child in below)
        return found

    def subtree(self, span_id: uuid.UUID) -> SubtreeFigures:
        """Totals of the span and every span below it. Spans no root leads to are in or
        under a cycle of stored parents (ingestion links parents as they arrive): their
        totals count each span they reach once."""
        if span_id in self._below_roots:
            return self._below_roots[span_id]
        reached = {s.id: s for s in self.spans if s.id == span_id}
        stack = list(reached)
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child.id not in reached:
                    reached[child.id] = child
                    stack.append(child.id)
        return SubtreeFigures.total(reached.values())
