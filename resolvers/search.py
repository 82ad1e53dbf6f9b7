"""Full-text search over message content and, on request, span inputs and outputs.

The documents (models/search.py) are kept in sync by triggers; this module only
reads them, through each database's own index: PostgreSQL's to_tsvector @@
plainto_tsquery on a GIN index (ranked by ts_rank_cd, highlighted by ts_headline),
SQLite's FTS5 MATCH (ranked by the density of matches, highlighted by snippet). Both
stem English words (Porter), so "searching" finds "searched" on either. A page is
keyset paginated on (rank descending, document id).

A rank depends on its document alone, never on statistics of the whole index: the
index holds documents the caller cannot see, and ranks that moved with them would
tell whether a word occurs in other people's conversations.
"""

from __future__ import annotations

import html
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    cast,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlmodel import col

from models import Message, SearchDocument
from models.enums import MessageRole
from models.search import FTS_TABLE, TS_CONFIG
from resolvers.access import visible
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.pagination import (
    PageRequest,
    decode_cursor,
    encode_cursor,
    parse_float,
    value_parser,
)

# Highlight marks no text contains: the snippet is HTML-escaped, then they become <mark>.
OPEN, CLOSE = "\x02", "\x03"
SNIPPET_WORDS = 16
WORD = re.compile(r"\w+")
FTS = table(FTS_TABLE, column("rowid"), column("content"))
# Document ids in cursors are checked against the column's integer range.
parse_document_id = value_parser(col(SearchDocument.id))


@dataclass(frozen=True)
class SearchQuery:
    text: str
    conversation_id: uuid.UUID | None = None
    roles: Sequence[MessageRole] | None = None
    include_spans: bool = False
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass
class Hit:
    document: SearchDocument
    rank: float
    snippet: str
    cursor: str


@dataclass
class SearchPage:
    hits: list[Hit]
    has_next_page: bool


def words(text: str) -> list[str]:
    found = WORD.findall(text)
    if not found:
        raise BadInput("`query` has no words to search for")
    return found


class Dialect(ABC):
    """How one database matches, ranks and highlights (higher rank: better match)."""

    def __init__(self, terms: list[str]) -> None:
        self.terms = terms

    @abstractmethod
    def hits(self) -> Any:
        """(document id, rank) of every matching document."""

    @abstractmethod
    def snippets(self, document_ids: list[int]) -> Any:
        """(document id, snippet) of the given matching documents."""


class PostgreSQL(Dialect):
    def _parts(self) -> tuple[Any, Any]:
        config: Any = literal_column(f"'{TS_CONFIG}'")
        # The expression of the GIN index (migration 0007), so that the index serves it.
        vector = func.to_tsvector(config, col(SearchDocument.content))
        return vector, func.plainto_tsquery(config, " ".join(self.terms))

    def hits(self) -> Any:
        vector, query = self._parts()
        # ts_rank_cd reads this document and the query only. float8: the rank goes into
        # cursors, and must compare equal when it comes back.
        rank = cast(func.ts_rank_cd(vector, query), Float(precision=53))
        return select(col(SearchDocument.id).label("doc_id"), rank.label("rank")).where(
            vector.op("@@")(query)
        )

    def snippets(self, document_ids: list[int]) -> Any:
        _vector, query = self._parts()
        options = f"StartSel={OPEN}, StopSel={CLOSE}, MaxWords={SNIPPET_WORDS}, MinWords=5"
        headline = func.ts_headline(
            literal_column(f"'{TS_CONFIG}'"), col(SearchDocument.content), query, options
        )
        return select(col(SearchDocument.id), headline).where(
            col(SearchDocument.id).in_(document_ids)
        )


class SQLite(Dialect):
    def _match(self) -> ColumnElement[bool]:
        # Each word a quoted string: FTS5's query syntax (AND, NEAR, *) cannot be injected.
        quoted = " ".join('"' + term.replace('"', '""') + '"' for term in self.terms)
        return literal_column(FTS_TABLE).op("MATCH")(quoted)

    def hits(self) -> Any:
        # Not bm25(): it weighs words by their frequency across the whole index, whose
        # other documents are not the caller's. The document's matches per character
        # instead: with a one-character opening mark and no closing one, highlight()
        # lengthens the text by one character per match.
        length = func.length(FTS.c.content)
        marked = func.highlight(literal_column(FTS_TABLE), 0, OPEN, "")
        rank = cast(func.length(marked) - length, Float) / length
        return select(FTS.c.rowid.label("doc_id"), rank.label("rank")).where(self._match())

    def snippets(self, document_ids: list[int]) -> Any:
        snippet = func.snippet(literal_column(FTS_TABLE), 0, OPEN, CLOSE, "…", SNIPPET_WORDS)
        return select(FTS.c.rowid, snippet).where(self._match(), FTS.c.rowid.in_(document_ids))


def _conditions(ctx: Context, q: SearchQuery) -> list[ColumnElement[bool]]:
    found = visible(SearchDocument, ctx.principal)
    if q.conversation_id is not None:
        found.append(col(SearchDocument.conversation_id) == q.conversation_id)
    message_conditions: list[ColumnElement[bool]] = []
    if q.roles:
        message_conditions.append(col(Message.role).in_(q.roles))
    if q.created_after is not None:
        message_conditions.append(col(Message.created_at) >= q.created_after)
    if q.created_before is not None:
        message_conditions.append(col(Message.created_at) < q.created_before)
    is_message: ColumnElement[bool] = col(SearchDocument.message_id).is_not(None)
    if message_conditions:
        is_message = exists().where(
            col(Message.id) == col(SearchDocument.message_id), *message_conditions
        )
    if q.include_spans and not q.roles:
        # Spans have no role; their time filter is not applied (a span is no message).
        found.append(or_(is_message, col(SearchDocument.span_id).is_not(None)))
    else:
        found.append(is_message)
    return found


async def search(ctx: Context, q: SearchQuery, request: PageRequest) -> SearchPage:
    if request.backward or request.before is not None:
        raise BadInput("search pages go forward only: use `first` and `after`")
    dialect_name = ctx.database.engine.dialect.name
    dialect: Dialect = (PostgreSQL if dialect_name == "postgresql" else SQLite)(words(q.text))
    hits = dialect.hits().subquery("hits")
    statement = (
        select(SearchDocument, hits.c.rank)
        .join(hits, hits.c.doc_id == col(SearchDocument.id))
        .where(*_conditions(ctx, q))
    )
    if request.after is not None:
        rank, document_id = decode_cursor(
            request.after, parse_float, parse_document_id, of="this search"
        )
        statement = statement.where(
            or_(hits.c.rank < rank, and_(hits.c.rank == rank, col(SearchDocument.id) > document_id))
        )
    rows = await ctx.loaders.fetch(
        statement.order_by(hits.c.rank.desc(), col(SearchDocument.id)).limit(request.limit + 1)
    )
    kept = rows[: request.limit]
    ids = [row[0].id for row in kept]
    snippets = dict(await ctx.loaders.fetch(dialect.snippets(ids))) if ids else {}
    return SearchPage(
        hits=[
            Hit(
                row[0],
                row[1],
                highlighted(snippets.get(row[0].id, "")),
                encode_cursor(row[1], row[0].id),
            )
            for row in kept
        ],
        has_next_page=len(rows) > request.limit,
    )


def highlighted(snippet: str) -> str:
    """The snippet as HTML: its text escaped, the matches in <mark>."""
    return html.escape(snippet).replace(OPEN, "<mark>").replace(CLOSE, "</mark>")
