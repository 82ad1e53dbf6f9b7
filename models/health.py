"""The row the readiness probe rewrites: proof that the database takes a write."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import utcnow


class ReadinessProbe(SQLModel, table=True):
    """One row, rewritten by every readiness check (resolvers/health.py).

    Taking the write lock proves nothing on SQLite: BEGIN IMMEDIATE succeeds on a
    connection that opened the file read-only and on a full disk. Only a committed
    change of a page reaches the file.
    """

    __tablename__ = "readiness_probes"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    checked_at: datetime = Field(default_factory=utcnow)
