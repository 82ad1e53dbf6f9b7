"""How each database finds, ranks and highlights search documents (models/search.py).

PostgreSQL matches a document's stored tsvector with plainto_tsquery, ranks it with
ts_rank_cd and highlights with ts_headline; SQLite matches with FTS5 MATCH, ranks by
the density of matches and highlights with snippet(). Both stem English words
(Porter), so "searching" finds "searched" on either.

On PostgreSQL a search's words are written into its statements (resolvers.analytics.
sql.written_in), so each is planned for them: asyncpg prepares statements, and after five
executions PostgreSQL may switch to a generic plan, which cannot tell a rare word from a
common one and so would read every match of a common word. (Reads run in autocommit, so
a SET LOCAL of plan_cache_mode would end with its own statement.)

A rank depends on its document alone, never on statistics of the whole index: the
index holds documents the caller cannot see, and ranks that moved with them would
tell whether a word occurs in other people's conversations.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    cast,
    column,
    func,
    literal_column,
    select,
    table,
)
from sqlmodel import col

from models import Message, SearchDocument, Span
from models.search import FTS_TABLE, TS_CONFIG, WORDS_COLUMN
from resolvers.analytics.sql import written_in

# Highlight marks no text contains: the snippet is HTML-escaped, then they become <mark>.
OPEN, CLOSE = "\x02", "\x03"
SNIPPET_WORDS = 16
FTS = table(FTS_TABLE, column("rowid"), column("content"))
# PostgreSQL's tsvector column, which the model leaves to the migrations.
WORDS: ColumnElement[Any] = literal_column(f"{SearchDocument.__tablename__}.{WORDS_COLUMN}")
DOCUMENT = (
    col(SearchDocument.id),
    col(SearchDocument.conversation_id),
    col(SearchDocument.message_id),
    col(SearchDocument.span_id),
)


class Dialect(ABC):
    """How one database matches, ranks and highlights (higher rank: better match)."""

    def __init__(self, terms: list[str]) -> None:
        self.terms = terms

    @abstractmethod
    def candidates(self, conditions: list[ColumnElement[bool]], limit: int) -> Any:
        """The newest `limit` documents that match and meet `conditions`, as (id,
        conversation_id, message_id, span_id, rank): only they are ranked."""

    @abstractmethod
    def snippets(self, document_ids: list[int]) -> Any:
        """(document id, snippet) of the given matching documents."""


class PostgreSQL(Dialect):
    def _query(self) -> Any:
        return func.plainto_tsquery(
            literal_column(f"'{TS_CONFIG}'"), written_in(" ".join(self.terms))
        )

    def candidates(self, conditions: list[ColumnElement[bool]], limit: int) -> Any:
        query = self._query()
        # Newest first, then cut: the planner walks the documents newest first checking
        # each one's stored words, or reads the GIN indexes and sorts the matches,
        # whichever it finds cheaper for this word. Ranked above the cut only.
        newest = (
            select(*DOCUMENT, WORDS.label("words"))
            .where(WORDS.bool_op("@@")(query), *conditions)
            .order_by(col(SearchDocument.id).desc())
            .limit(limit)
            .subquery("newest")
        )
        # ts_rank_cd reads this document and the query only. float8: the rank goes into
        # cursors, and must compare equal when it comes back.
        rank = cast(func.ts_rank_cd(newest.c.words, query), Float(precision=53))
        return select(
            newest.c.id,
            newest.c.conversation_id,
            newest.c.message_id,
            newest.c.span_id,
            rank.label("rank"),
        )

    def snippets(self, document_ids: list[int]) -> Any:
        # The document keeps no text: the message's, or the span's as its document
        # holds it (the function of migration 0011 that its trigger reads).
        document_text = func.coalesce(
            col(Message.content), func.threadline_span_text(col(Span.outputs))
        )
        options = f"StartSel={OPEN}, StopSel={CLOSE}, MaxWords={SNIPPET_WORDS}, MinWords=5"
        headline = func.ts_headline(
            literal_column(f"'{TS_CONFIG}'"), document_text, self._query(), options
        )
        return (
            select(col(SearchDocument.id), headline)
            .outerjoin(Message, col(Message.id) == col(SearchDocument.message_id))
            .outerjoin(Span, col(Span.id) == col(SearchDocument.span_id))
            .where(col(SearchDocument.id).in_(document_ids))
        )


class SQLite(Dialect):
    def _match(self) -> ColumnElement[bool]:
        # Each word a quoted string: FTS5's query syntax (AND, NEAR, *) cannot be injected.
        quoted = " ".join('"' + term.replace('"', '""') + '"' for term in self.terms)
        return literal_column(FTS_TABLE).op("MATCH")(quoted)

    def candidates(self, conditions: list[ColumnElement[bool]], limit: int) -> Any:
        # Not bm25(): it weighs words by their frequency across the whole index, whose
        # other documents are not the caller's. The document's matches per character
        # instead: with a one-character opening mark and no closing one, highlight()
        # lengthens the text by one character per match. FTS5 returns the matches in
        # rowid order, newest first here, so the rank is computed for the first
        # `limit` of them only.
        length = func.length(FTS.c.content)
        marked = func.highlight(literal_column(FTS_TABLE), 0, OPEN, "")
        rank = cast(func.length(marked) - length, Float) / length
        return (
            select(*DOCUMENT, rank.label("rank"))
            .select_from(FTS)
            .join(SearchDocument, col(SearchDocument.id) == FTS.c.rowid)
            .where(self._match(), *conditions)
            .order_by(FTS.c.rowid.desc())
            .limit(limit)
        )

    def snippets(self, document_ids: list[int]) -> Any:
        snippet = func.snippet(literal_column(FTS_TABLE), 0, OPEN, CLOSE, "…", SNIPPET_WORDS)
        return select(FTS.c.rowid, snippet).where(self._match(), FTS.c.rowid.in_(document_ids))


def dialect_for(database: str, terms: list[str]) -> Dialect:
    return (PostgreSQL if database == "postgresql" else SQLite)(terms)
