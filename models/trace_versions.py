"""Which component versions each trace's spans used, kept by database triggers.

Grouping scores by component version reads a trace's versions from here instead of from
every one of its spans' links (migration 0015 holds the triggers on
span_component_versions that keep it equal to those links counted per trace).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class TraceVersion(SQLModel, table=True):
    """One version some of a trace's spans used, and how many of them did: a span link
    removed takes one off, and the row goes when none is left."""

    __tablename__ = "trace_versions"

    trace_id: uuid.UUID = Field(foreign_key="traces.id", ondelete="CASCADE", primary_key=True)
    component_version_id: uuid.UUID = Field(
        foreign_key="component_versions.id", ondelete="CASCADE", primary_key=True, index=True
    )
    spans: int = Field(default=0, sa_type=sa.BigInteger)
