"""The shape of one ingestion batch: its traces, their spans, and what it did."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from models import Trace
from models.enums import EventKind
from resolvers.events import event_row
from resolvers.ingest.mapping import SpanFacts
from resolvers.ingest.otlp import IncomingSpan


@dataclass
class Mapped:
    """An incoming span, what it means, and the rows it becomes."""

    span: IncomingSpan
    facts: SpanFacts
    id: uuid.UUID
    trace_id: uuid.UUID
    # The parent's row id (derived from its span id), whether or not it is stored yet.
    parent_id: uuid.UUID | None


@dataclass
class TraceBatch:
    """The spans of one trace in a batch, and where they go."""

    id: uuid.UUID
    external_id: str
    spans: list[Mapped]
    conversation_id: uuid.UUID
    existing: Trace | None = None

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
