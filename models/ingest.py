"""Receipts of bulk ingestion: which client events were applied already."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from models.base import json_field, utcnow, uuid_pk


class IngestReceipt(SQLModel, table=True):
    """One applied `ingest` item, so that a batch sent again applies nothing twice.

    Keyed by the user the item was written for: client event ids are theirs to choose.
    """

    __tablename__ = "ingest_receipts"

    owner_id: str = Field(primary_key=True)
    client_event_id: str = Field(primary_key=True)
    # The global id of what the item wrote, returned again for a repeated item.
    node_id: str
    created_at: datetime = Field(default_factory=utcnow)


class PendingLogRecord(SQLModel, table=True):
    """OTLP log records (GenAI events) that arrived before the span they belong to; applied
    and deleted when that span arrives (resolvers.ingest.logs)."""

    __tablename__ = "otlp_log_records"

    id: uuid.UUID = uuid_pk()
    # The rows the trace and span will be stored as (resolvers.ingest.ids).
    trace_id: uuid.UUID = Field(index=True)
    span_id: uuid.UUID = Field(index=True)
    # The caller who sent them: only that caller's spans take them.
    owner_id: str
    # The records as they will be mapped, in the order they were sent.
    records: list[dict[str, Any]] = json_field(default=list)
    received_at: datetime = Field(default_factory=utcnow, index=True)
