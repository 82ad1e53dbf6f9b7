"""The `search` root field: ranked, highlighted matches in messages and spans."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from models.enums import MessageRole
from models.search import SEARCHED_SPAN_KINDS, SPAN_TEXT_CHARS
from resolvers import search
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.pagination import PageArgs
from schema.node import related
from schema.pagination import Edge, PageArguments, PageInfo

if TYPE_CHECKING:
    from schema.conversation import Conversation
    from schema.message import Message
    from schema.trace import Span

ConversationT = Annotated["Conversation", strawberry.lazy("schema.conversation")]
MessageT = Annotated["Message", strawberry.lazy("schema.message")]
SpanT = Annotated["Span", strawberry.lazy("schema.trace")]


@strawberry.input
class SearchFilter:
    conversation_id: strawberry.ID | None = None
    roles: list[MessageRole] | None = strawberry.field(
        default=None, description="Messages of these roles only (and no spans)."
    )
    include_spans: bool = strawberry.field(
        default=False,
        description=f"Also search {' and '.join(SEARCHED_SPAN_KINDS)} spans, whose outputs "
        "(a tool's result, what was retrieved) no message holds, by what they produced: the "
        f"first {SPAN_TEXT_CHARS} characters of the string values in a span's outputs (not "
        "its inputs, which earlier messages and spans produced; not object keys). Other "
        "spans are not searched: an LLM span's answer is a message, found as one; agents' "
        "and chains' outputs are answers or other spans' results; embeddings hold no text; "
        "guardrails' and evaluators' verdicts are not indexed.",
    )
    created_after: datetime | None = strawberry.field(default=None, description="Messages only.")
    created_before: datetime | None = strawberry.field(default=None, description="Messages only.")


@strawberry.type(description="A message or span that matches; exactly one of the two is set.")
class SearchHit:
    rank: float = strawberry.field(description="Higher is better; comparable within one search.")
    snippet: str = strawberry.field(
        description="HTML: the best passage, its text escaped, the matched words in <mark>."
    )
    message_id: strawberry.Private[uuid.UUID | None]
    span_id: strawberry.Private[uuid.UUID | None]
    conversation_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def message(self, info: Info[Context, None]) -> MessageT | None:
        from schema.message import Message

        return await related(info, Message, self.message_id)

    @strawberry.field
    async def span(self, info: Info[Context, None]) -> SpanT | None:
        from schema.trace import Span

        return await related(info, Span, self.span_id)

    @strawberry.field
    async def conversation(self, info: Info[Context, None]) -> ConversationT | None:
        from schema.conversation import Conversation

        return await related(info, Conversation, self.conversation_id)


@strawberry.type
class SearchResults:
    edges: list[Edge[SearchHit]]
    page_info: PageInfo


@strawberry.type
class SearchQueries:
    @strawberry.field(
        description="Full-text search, best match first: every word of `query` must occur "
        "(English stemming: 'refunds' finds 'refund'). Only the newest "
        f"{search.CANDIDATES:,} matches are ranked and returned: the messages and spans that "
        "match, that you may see and that pass `filter`, newest by when each was first "
        "indexed (a message when its first words were written, a tool or retriever span "
        "when its outputs first held text); they are ranked best first, ties older first. "
        "A message is searched by its content, a tool or retriever span by the start of its "
        "outputs (`includeSpans`). Later pages (`after`) rank the same matches as the first "
        "page: messages and spans indexed since are not among them. Forward pages only "
        "(`first`, `after`).",
        extensions=[PageArguments(backward=False)],
    )
    async def search(
        self,
        info: Info[Context, None],
        query: str,
        filter: SearchFilter | None = None,
        page: PageArgs = PageArgs(),
    ) -> SearchResults:
        ctx = info.context
        f = filter or SearchFilter()
        q = search.SearchQuery(
            text=query,
            conversation_id=parse_id(f.conversation_id, "Conversation")
            if f.conversation_id
            else None,
            roles=f.roles,
            include_spans=f.include_spans,
            created_after=f.created_after,
            created_before=f.created_before,
        )
        found = await search.search(ctx, q, ctx.page_request(page))
        edges = [
            Edge(
                cursor=hit.cursor,
                node=SearchHit(
                    rank=hit.rank,
                    snippet=hit.snippet,
                    message_id=hit.message_id,
                    span_id=hit.span_id,
                    conversation_id=hit.conversation_id,
                ),
            )
            for hit in found.hits
        ]
        cursors = [edge.cursor for edge in edges]
        return SearchResults(
            edges=edges,
            page_info=PageInfo(
                has_next_page=found.has_next_page,
                has_previous_page=page.after is not None,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
        )
