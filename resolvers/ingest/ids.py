"""Row ids of ingested data, derived from the ids the client sent.

Deriving them (UUIDv5, within a namespace per user) makes ingestion idempotent:
a span sent twice names the same row, and a child can name its parent before the
parent arrives. Users never share a namespace, so nobody can write into another's rows;
a namespace is keyed by the installation's secret (resolvers.ingest.namespace), so
nobody can compute another's ids either.
"""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("1f0c6a52-3c0e-5f4e-9b1d-7a1f0e3c2b6d")


def owner_namespace(secret: str, owner_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{secret}/{owner_id}")


def trace_row(owner: uuid.UUID, trace_hex: str) -> uuid.UUID:
    return uuid.uuid5(owner, f"trace:{trace_hex}")


def span_row(trace_id: uuid.UUID, span_hex: str) -> uuid.UUID:
    return uuid.uuid5(trace_id, span_hex)


def conversation_row(owner: uuid.UUID, key: str | None, trace_hex: str) -> uuid.UUID:
    """The conversation a trace belongs to: the one its spans name, else one of its own."""
    return uuid.uuid5(owner, f"conversation:{key}" if key else f"trace-conversation:{trace_hex}")
