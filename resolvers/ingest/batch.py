"""The shape of one ingestion batch: its traces, their spans, and what it did."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from models import Trace
from models.enums import EventKind, SpanKind
from resolvers.events import event_row
from resolvers.ingest.mapping import SpanFacts
from resolvers.ingest.otlp import IncomingSpan
from resolvers.pricing.charges import NO_CHARGE, Charge
from resolvers.writes.totals import Usage

# The spans that are model calls. Usage attributes on other spans (an agent run's or a
# chain's totals) restate their model calls' usage: counted, it would count twice.
MODEL_CALLS = frozenset({SpanKind.LLM, SpanKind.EMBEDDING})


@dataclass
class Mapped:
    """An incoming span, what it means, and the rows it becomes."""

    span: IncomingSpan
    facts: SpanFacts
    id: uuid.UUID
    trace_id: uuid.UUID
    # The parent's row id (derived from its span id), whether or not it is stored yet.
    parent_id: uuid.UUID | None
    # What the span counts in the usage model (counted_usage; priced when written).
    usage: Usage = field(default_factory=Usage)
    # Its cost's origin and price (resolvers.ingest.costs), set with `usage.cost`.
    charge: Charge = NO_CHARGE

    @property
    def cached_input_tokens(self) -> int:
        """Of the counted input tokens, those the provider read from its cache."""
        return min(self.facts.cached_input_tokens, self.usage.input_tokens)


def counted_usage(f: SpanFacts) -> Usage:
    """A model call's tokens; nothing for other spans."""
    if f.kind not in MODEL_CALLS:
        return Usage()
    return Usage(f.input_tokens, f.output_tokens, f.total_tokens)


@dataclass
class TraceBatch:
    """The spans of one trace in a batch, and where they go."""

    id: uuid.UUID
    external_id: str
    spans: list[Mapped]
    conversation_id: uuid.UUID
    existing: Trace | None = None
    # Its conversation was created by this batch: nothing of it was stored before.
    new_conversation: bool = False

    @property
    def usage(self) -> Usage:
        return sum((m.usage for m in self.spans), Usage())

    @property
    def root(self) -> Mapped | None:
        return next((m for m in self.spans if m.span.parent_id is None), None)


@dataclass
class Outcome:
    """What a batch did: spans refused (and why), and the events to record in order."""

    rejected: list[str] = field(default_factory=list)
    rejected_spans: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, spans: int, reason: str) -> None:
        self.rejected_spans += spans
        self.rejected.append(reason)

    def event(
        self,
        conversation_id: uuid.UUID,
        kind: EventKind,
        data: dict[str, Any] | None = None,
        **refs: uuid.UUID | None,
    ) -> None:
        self.events.append(event_row(conversation_id, kind, data, **refs))
