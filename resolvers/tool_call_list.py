"""The root `toolCalls` list (issue 22): tool calls filtered, counted and paged in SQL.

Newest first by start (or oldest first), ties on id; calls that have not started come
last either way. Visibility is that of each call's conversation, decided in SQL, so a
page and its total never hold another caller's calls.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlmodel import col

from models import Message, ToolCall
from models.enums import ToolCallStatus
from resolvers.access import among_visible_conversations
from resolvers.analytics.sql import written_in
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.pagination import Ordering, PageRequest, gathered_page_query, make_page
from resolvers.reads import RootPage, row_count
from resolvers.segments import Segment, segmented_page_query

# Constants: an Ordering parses its cursors' values from its column once.
ORDERINGS = {
    descending: Ordering(col(ToolCall.started_at), col(ToolCall.id), descending)
    for descending in (False, True)
}

# Each tool asked for is read as eight index ranges (a status's started calls, then those
# not started), all in one statement: SQLite takes at most 500 in a UNION.
MAX_TOOL_NAMES = 20


@dataclass(frozen=True)
class ToolCallQuery:
    """Every condition given must hold; None: any."""

    tool_names: tuple[str, ...] | None = None
    statuses: tuple[ToolCallStatus, ...] | None = None
    conversation_ids: tuple[uuid.UUID, ...] | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    descending: bool = True

    def check(self, max_conversations: int) -> None:
        if self.started_after and self.started_before and self.started_after >= self.started_before:
            raise BadInput("`startedAfter` must be before `startedBefore`")
        if len(self.tool_names or ()) > MAX_TOOL_NAMES:
            raise BadInput(f"`toolNames` lists more than {MAX_TOOL_NAMES} names")
        if len(self.conversation_ids or ()) > max_conversations:
            raise BadInput(f"`conversationIds` lists more than {max_conversations} ids")


def tool_call_conditions(q: ToolCallQuery) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if q.tool_names:
        found.append(col(ToolCall.tool_name).in_(written_in(q.tool_names)))
    if q.statuses:
        found.append(col(ToolCall.status).in_(written_in(q.statuses)))
    if q.conversation_ids:
        asked = col(Message.conversation_id).in_(q.conversation_ids)
        found.append(col(ToolCall.message_id).in_(select(col(Message.id)).where(asked)))
    if q.started_after is not None:
        found.append(col(ToolCall.started_at) >= q.started_after)
    if q.started_before is not None:
        found.append(col(ToolCall.started_at) < q.started_before)
    return found


async def tool_calls(ctx: Context, q: ToolCallQuery, request: PageRequest) -> RootPage:
    q.check(max_conversations=ctx.settings.max_page_size)
    ordering = ORDERINGS[q.descending]
    where = [*tool_call_conditions(q), *_visible(ctx)]
    if q.conversation_ids or not ctx.principal.unrestricted:
        # A few conversations' calls, or a signed-in caller's: a share of all calls, found
        # from their messages and sorted.
        statement = gathered_page_query(ToolCall, where, request, ordering)
    else:
        statement = segmented_page_query(ToolCall, where, _segments(q), request, ordering)
    page = make_page([row[0] for row in await ctx.loaders.fetch(statement)], request, ordering)
    return RootPage(page, row_count(ctx, ToolCall, where))


def _visible(ctx: Context) -> list[ColumnElement[bool]]:
    """The calls of the caller's conversations' messages (visible(), in another form). The
    conversations' ids are found first (`among`): given them as a subquery to join,
    PostgreSQL read every message (0.5 s at L for a caller who sees 1% of them)."""
    theirs = among_visible_conversations(col(Message.conversation_id), ctx.principal)
    if not theirs:
        return []
    return [col(ToolCall.message_id).in_(select(col(Message.id)).where(*theirs))]


def _segments(q: ToolCallQuery) -> list[Segment]:
    """The list, group by group, each group a range of an index in list order
    (migration 0024): a status's calls, or a tool's calls of a status. Read in one index
    by start, a filter on a rare tool or status (failures) would skip most of it before a
    page is full, and PostgreSQL reads no index in start order with the calls that have
    not started last."""
    # Each value once: a group read twice would list its calls twice.
    statuses = dict.fromkeys(q.statuses or ToolCallStatus)
    groups: list[tuple[ColumnElement[bool], ...]] = [
        (col(ToolCall.status) == written_in(status),) for status in statuses
    ]
    if q.tool_names:
        groups = [
            (col(ToolCall.tool_name) == written_in(name), *in_status)
            for name in dict.fromkeys(q.tool_names)
            for in_status in groups
        ]
    return [segment for group in groups for segment in _started_then_not(group)]


def _started_then_not(group: tuple[ColumnElement[bool], ...]) -> list[Segment]:
    """A group's started calls by start, then the few that have not started, by id."""
    not_started = Segment(
        (*group, col(ToolCall.started_at).is_(None)), holds_one_value=True, value=None
    )
    return [Segment((*group, col(ToolCall.started_at).is_not(None))), not_started]
