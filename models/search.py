"""The full-text search index: one document per message and per span.

Database triggers (migration 0007) write these rows on every insert and update of a
message's content or a span's inputs/outputs, whoever writes them; a message's or
span's deletion removes its document through the foreign key. The dialect's own
index sits on top: a GIN index on to_tsvector(content) on PostgreSQL, an FTS5
table (`search_fts`, external content) on SQLite.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import fk

# The text search configuration (PostgreSQL) and tokenizer (SQLite): both stem English.
TS_CONFIG = "english"
FTS_TABLE = "search_fts"


class SearchDocument(SQLModel, table=True):
    __tablename__ = "search_documents"

    # An integer key: FTS5 addresses its rows by rowid, which must never change.
    id: int | None = Field(
        default=None, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    conversation_id: uuid.UUID = fk("conversations.id")
    message_id: uuid.UUID | None = Field(
        default=None, foreign_key="messages.id", ondelete="CASCADE", unique=True
    )
    span_id: uuid.UUID | None = Field(
        default=None, foreign_key="spans.id", ondelete="CASCADE", unique=True
    )
    content: str = Field(default="", sa_type=sa.Text)


# PostgreSQL's GIN index on to_tsvector(content): an expression the models cannot
# declare for SQLite too.
FTS_INDEX = "ix_search_documents_fts"


def managed_by_migrations(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic's include_name: false for the dialect-specific search index (the FTS5
    table and its shadow tables, which SQLite lists as tables; the GIN index), which
    migration 0007 alone declares."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(FTS_TABLE)
    return not (type_ == "index" and name == FTS_INDEX)
