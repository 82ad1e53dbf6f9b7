"""The full-text search index: one document per message, and per TOOL or RETRIEVER
span, that has words.

Database triggers (migrations 0007, 0011 and 0016) write these rows on every insert and
update of a message's content or a span's outputs or kind, whoever writes them
(mutations, streamed answers, ingestion, imports); a message's or span's deletion
removes its document through the foreign key.

Which spans have one (SEARCHED_SPAN_KINDS): tools and retrievers, whose outputs (a
tool's result, the documents retrieved) are text that no message holds. An LLM span's
outputs are the model's answer, which is a message already (ingestion writes the
conversation each LLM span carries as messages: resolvers/ingest/messages.py); an
AGENT's or CHAIN's are the run's answer or its steps' results, again messages or other
spans' outputs; EMBEDDING spans produce vectors, not text; GUARDRAIL and EVALUATOR
verdicts are not what people search for. Spans are most of the rows at scale: documents
for every kind would mostly index again text that is found elsewhere.

What a document holds:
- a message's: its whole content, the text people search first;
- a span's: the string values of its outputs (object keys are not text), cut at
  SPAN_TEXT_CHARS characters, about two sentences. A span is found by what it
  produced: its inputs were produced before it, as messages (an LLM call's history) or
  as other spans' outputs (a tool's arguments are in the output of the call that asked
  for it), and are indexed there. Spans are most of the rows at scale, so their
  documents are kept small: the start of a tool's result or of what was retrieved.
  Inside an object the strings come in each database's own order (PostgreSQL's jsonb
  puts shorter keys first), so past the cut the two may keep different words of a
  long, many-keyed output.
A message or span without words (a reply that only calls tools, a span still running
or with empty outputs) has no document: there is nothing in it to find.

Each database holds the words in its own form, which is why the model declares
neither (`managed_by_migrations` leaves them to the migrations):
- PostgreSQL: `words`, the document's tsvector (English stemming), stored once so that
  matching and ranking never parse text again, under two GIN indexes, one per kind of
  document (messages, spans), so that a search of messages never reads a span's
  entries; and a b-tree on the message documents' ids, newest first. No copy of the
  text: snippets are cut from the message, or the span's outputs (`threadline_span_text`).
- SQLite: `content`, the text itself, read by an FTS5 table (`search_fts`, external
  content) that also gives the snippets.
Both stem English words (Porter), so "searching" finds "searched" on either.

Document ids grow with each new document: the newest documents have the highest ids,
which is how a search bounds the documents it ranks (resolvers/search.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import fk
from models.enums import SpanKind

# The text search configuration (PostgreSQL) and tokenizer (SQLite): both stem English.
TS_CONFIG = "english"
FTS_TABLE = "search_fts"
# Where the words are: PostgreSQL's tsvector column, SQLite's text column.
WORDS_COLUMN = "words"
CONTENT_COLUMN = "content"
# The most characters of a span's text that its document holds. Migration 0011's
# triggers cut there: another bound needs a migration that rewrites span documents.
SPAN_TEXT_CHARS = 200
# The kinds of span that have a document (see above). Migration 0016's triggers name
# them: another set needs a migration that adds or deletes span documents.
SEARCHED_SPAN_KINDS = (SpanKind.TOOL, SpanKind.RETRIEVER)


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


# PostgreSQL's indexes on the words and on the newest message documents (migration 0011).
MESSAGE_WORDS_INDEX = "ix_search_documents_message_words"
SPAN_WORDS_INDEX = "ix_search_documents_span_words"
NEWEST_MESSAGES_INDEX = "ix_search_documents_newest_messages"
MIGRATION_INDEXES = frozenset({MESSAGE_WORDS_INDEX, SPAN_WORDS_INDEX, NEWEST_MESSAGES_INDEX})


def managed_by_migrations(name: str | None, type_: str, parent: Any) -> bool:
    """Alembic's include_name: false for what each dialect declares for itself in the
    migrations alone: the FTS5 table and its shadow tables (which SQLite lists as
    tables), the words' column and the indexes on it."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(FTS_TABLE)
    if type_ == "column":
        in_documents = parent.get("table_name") == SearchDocument.__tablename__
        return not (in_documents and name in (WORDS_COLUMN, CONTENT_COLUMN))
    return not (type_ == "index" and name in MIGRATION_INDEXES)
