"""Receipts of bulk ingestion: which client events were applied already."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import utcnow


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
