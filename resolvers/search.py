"""Full-text search over message content and, on request, the outputs of the spans
that have a document (tools and retrievers: models/search.py says why).

The documents (models/search.py) are kept in sync by triggers; this module only reads
them, through each database's own index (resolvers/search_dialects.py).

A search ranks a bounded set of candidates: the newest CANDIDATES documents (by
document id, which grows with each new document) that match every word, that the
caller may see and that pass the filter. Visibility and the filter are conditions of
the query that finds them, not of its result, so a caller who sees few conversations
gets the newest matches among those, however many newer documents of others match.
Only the candidates are ranked; a page is keyset paginated on (rank descending,
document id) within them. A cursor also holds the newest candidate's id, so
later pages rank the same candidates while new documents are written.

For a caller who does not see everything, the ids of the conversations it may see are
read first (up to VISIBLE_IDS_LISTED of them) and the candidates' query names them: its
plan then knows how many documents they hold, and chooses between reading those and
walking the newest matches (for a caller who sees much). Given as a subquery instead,
the same set hides its size from the planner, which then reads every match of a common
word. A caller who sees more conversations than that gets the subquery.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models import Message, SearchDocument
from models.enums import MessageRole
from resolvers.access import visible_conversation_ids
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.pagination import (
    PageRequest,
    decode_cursor,
    encode_cursor,
    parse_float,
    value_parser,
)
from resolvers.search_dialects import CLOSE, OPEN, Dialect, dialect_for

# The most documents a search ranks: the newest that match (see the module's docstring).
CANDIDATES = 1000
# The most visible conversations whose ids a search names (see the module's docstring).
VISIBLE_IDS_LISTED = 5000
WORD = re.compile(r"\w+")
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
    conversation_id: uuid.UUID
    message_id: uuid.UUID | None
    span_id: uuid.UUID | None
    rank: float
    snippet: str
    cursor: str


@dataclass
class SearchPage:
    hits: list[Hit]
    has_next_page: bool


@dataclass(frozen=True)
class After:
    """Where a page starts: after the hit of this rank and document, among the
    candidates no newer than `newest`."""

    rank: float
    document_id: int
    newest: int


def words(text: str) -> list[str]:
    found = WORD.findall(text)
    if not found:
        raise BadInput("`query` has no words to search for")
    return found


def _after(cursor: str) -> After:
    parsers = (parse_float, parse_document_id, parse_document_id)
    rank, document_id, newest = decode_cursor(cursor, *parsers, of="this search")
    return After(rank, document_id, newest)


def _kinds(q: SearchQuery) -> ColumnElement[bool]:
    """Messages (those the filter names), and spans if asked for (those with documents
    are of the searched kinds already: no condition on their kind). Each kind is named in
    the condition (`message_id IS NOT NULL`), so that PostgreSQL reads the indexes of
    that kind only (migration 0011)."""
    message_conditions: list[ColumnElement[bool]] = []
    if q.roles:
        message_conditions.append(col(Message.role).in_(q.roles))
    if q.created_after is not None:
        message_conditions.append(col(Message.created_at) >= q.created_after)
    if q.created_before is not None:
        message_conditions.append(col(Message.created_at) < q.created_before)
    is_message: ColumnElement[bool] = col(SearchDocument.message_id).is_not(None)
    if message_conditions:
        of_message = exists().where(
            col(Message.id) == col(SearchDocument.message_id), *message_conditions
        )
        is_message = and_(is_message, of_message)
    if q.include_spans and not q.roles:
        # Spans have no role; their time filter is not applied (a span is no message).
        return or_(is_message, col(SearchDocument.span_id).is_not(None))
    return is_message


async def _visible(session: AsyncSession, ctx: Context) -> list[ColumnElement[bool]] | None:
    """Conditions on the documents the caller may see; None when it sees no conversation
    (a search would walk every match to find none)."""
    shown = visible_conversation_ids(ctx.principal)
    if shown is None:
        return []
    ids = (await session.execute(shown.limit(VISIBLE_IDS_LISTED + 1))).scalars().all()
    if not ids:
        return None
    listed: Any = ids if len(ids) <= VISIBLE_IDS_LISTED else shown
    return [col(SearchDocument.conversation_id).in_(listed)]


def _page(
    dialect: Dialect, conditions: list[ColumnElement[bool]], limit: int, after: After | None
) -> Any:
    """The page's hits (limit + 1 of them), best first, each with the newest candidate's
    id (over every candidate on a first page, which has no cursor condition)."""
    ranked = dialect.candidates(conditions, CANDIDATES).subquery("ranked")
    newest = func.max(ranked.c.id).over()
    statement = select(ranked, newest.label("newest"))
    if after is not None:
        statement = statement.where(
            or_(
                ranked.c.rank < after.rank,
                and_(ranked.c.rank == after.rank, ranked.c.id > after.document_id),
            )
        )
    return statement.order_by(ranked.c.rank.desc(), ranked.c.id).limit(limit + 1)


async def search(ctx: Context, q: SearchQuery, request: PageRequest) -> SearchPage:
    if request.backward or request.before is not None:
        raise BadInput("search pages go forward only: use `first` and `after`")
    dialect = dialect_for(ctx.database.engine.dialect.name, words(q.text))
    after = _after(request.after) if request.after is not None else None
    async with ctx.loaders.session_factory() as session:
        visible = await _visible(session, ctx)
        if visible is None:
            return SearchPage(hits=[], has_next_page=False)
        conditions = [*visible, _kinds(q)]
        if q.conversation_id is not None:
            conditions.append(col(SearchDocument.conversation_id) == q.conversation_id)
        if after is not None:
            conditions.append(col(SearchDocument.id) <= after.newest)
        rows = (await session.execute(_page(dialect, conditions, request.limit, after))).all()
        kept = rows[: request.limit]
        ids = [row.id for row in kept]
        snippets = dict((await session.execute(dialect.snippets(ids))).all()) if ids else {}
    return SearchPage(
        hits=[
            Hit(
                row.conversation_id,
                row.message_id,
                row.span_id,
                row.rank,
                highlighted(snippets.get(row.id, "")),
                encode_cursor(row.rank, row.id, after.newest if after else row.newest),
            )
            for row in kept
        ],
        has_next_page=len(rows) > request.limit,
    )


def highlighted(snippet: str) -> str:
    """The snippet as HTML: its text escaped, the matches in <mark>."""
    return html.escape(snippet).replace(OPEN, "<mark>").replace(CLOSE, "</mark>")
