"""Root subscriptions (graphql-transport-ws)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import strawberry
from sqlmodel import col
from strawberry.types import Info

import models
from models.enums import EventKind, MessageStatus, TraceStatus
from resolvers.context import Context
from resolvers.credentials import ensure_may_listen
from resolvers.db import brief, is_unavailable
from resolvers.errors import NotFound, Unauthenticated
from resolvers.events import LoadedEvent
from resolvers.ids import parse_id, to_global_id
from schema.events import ConversationEvent, to_graphql
from schema.inputs import ConversationFilter
from schema.query import conversation_query
from subscriptions.activity import conversations_activity
from subscriptions.streams import (
    Selection,
    conversation_events,
    database_lost,
    decode_cursor,
    encode_cursor,
    read_log,
    revoked_keys,
)

log = logging.getLogger(__name__)
Ctx = Info[Context, None]
RowT = TypeVar("RowT", models.Conversation, models.Message, models.Trace)
FINISHING = frozenset({EventKind.COMPLETE, EventKind.ERROR})
TRACE_ENDS = frozenset({EventKind.TRACE_ENDED})
STREAMED = frozenset({EventKind.ANSWER_CHUNK, *FINISHING})
TRACE_KINDS = frozenset(
    {EventKind.TRACE_STARTED, EventKind.SPAN_STARTED, EventKind.SPAN_ENDED, EventKind.TRACE_ENDED}
)


async def _require(info: Ctx, model: type[RowT], global_id: str) -> RowT:
    """The row a subscription follows, as the subscriber may see it. A WebSocket
    authenticates once; its key is checked again for every new subscription."""
    await ensure_may_listen(info.context.principal, info.context.database)
    raw_id = parse_id(global_id, model.__name__)
    row: RowT | None = await info.context.loaders.by_id(model).load(raw_id)
    if row is None:
        raise NotFound(f"{model.__name__} '{to_global_id(model.__name__, raw_id)}' does not exist")
    return row


async def _as_graphql(
    info: Ctx, items: AsyncIterator[LoadedEvent]
) -> AsyncGenerator[ConversationEvent, None]:
    ctx = info.context
    revoked = revoked_keys(ctx)
    async for item in items:
        if ctx.principal.key_id in revoked:
            raise Unauthenticated("this API key has been revoked")
        ctx.refresh_loaders()
        ctx.stream_position = item
        yield to_graphql(item)


async def _resumable(
    info: Ctx, items: AsyncIterator[LoadedEvent], after: str | None
) -> AsyncGenerator[ConversationEvent, None]:
    """A conversation's events as GraphQL types. When the database fails while they are
    followed, the stream ends with RESUME_REQUIRED and the cursor to resume from (of the
    last event delivered, else `after`); with no cursor known, UNAVAILABLE."""
    ctx = info.context
    try:
        async for event in _as_graphql(info, items):
            yield event
    except Exception as exc:
        position = ctx.stream_position
        cursor = after
        if position is not None:
            cursor = encode_cursor(position.event.conversation_id, position.seq)
        if cursor is None or not is_unavailable(exc):
            raise
        log.warning("subscription (request %s) interrupted: %s", ctx.request_id, brief(exc))
        raise database_lost(cursor) from exc


@dataclass(frozen=True)
class Subject:
    """One row whose story a subscription follows until it ends (a message, a trace)."""

    column: Any  # the event column pointing at the row
    row_id: uuid.UUID
    conversation_id: uuid.UUID
    kinds: frozenset[EventKind]
    ends: frozenset[EventKind]
    running: bool

    def follow(self, info: Ctx, after: str | None) -> AsyncGenerator[ConversationEvent, None]:
        key = self.column.key
        selection = Selection(
            sql=[self.column == self.row_id, col(models.Event.kind).in_(self.kinds)],
            accepts=lambda e: getattr(e, key) == self.row_id and e.kind in self.kinds,
            last=lambda e: e.kind in self.ends,
        )
        start = decode_cursor(after, self.conversation_id) if after is not None else 0
        ctx = info.context
        if self.running:
            items = conversation_events(ctx, self.conversation_id, start, selection)
        else:
            # Finished: its whole story is in the log (finishing meanwhile is, too).
            items = read_log(ctx, self.conversation_id, start, None, selection)
        return _resumable(info, items, after)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every event of a conversation. With `after` (an event cursor), first "
        "every logged event after it, then live ones: no gap, no duplicate."
    )
    async def conversation_events(
        self, info: Ctx, conversation_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[ConversationEvent, None]:
        conversation = await _require(info, models.Conversation, conversation_id)
        start = decode_cursor(after, conversation.id) if after is not None else None
        items = conversation_events(info.context, conversation.id, start, Selection())
        async for event in _resumable(info, items, after):
            yield event

    @strawberry.subscription(
        description="One answer as it streams: its chunks from the first (or after `after`), "
        "then COMPLETE or ERROR, after which the subscription ends."
    )
    async def message_stream(
        self, info: Ctx, message_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[ConversationEvent, None]:
        message = await _require(info, models.Message, message_id)
        subject = Subject(
            col(models.Event.message_id),
            message.id,
            message.conversation_id,
            STREAMED,
            FINISHING,
            running=message.status == MessageStatus.STREAMING,
        )
        async for event in subject.follow(info, after):
            yield event

    @strawberry.subscription(
        description="A trace as it runs: TRACE_STARTED, its spans starting and ending, then "
        "TRACE_ENDED, after which the subscription ends. From the start, or after `after`."
    )
    async def trace_events(
        self, info: Ctx, trace_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[ConversationEvent, None]:
        trace = await _require(info, models.Trace, trace_id)
        subject = Subject(
            col(models.Event.trace_id),
            trace.id,
            trace.conversation_id,
            TRACE_KINDS,
            TRACE_ENDS,
            running=trace.status == TraceStatus.RUNNING,
        )
        async for event in subject.follow(info, after):
            yield event

    @strawberry.subscription(
        description="Live changes to the conversations matching `filter` (new conversation, "
        "new message, status, title, participants): for lists that stay current."
    )
    async def conversations_activity(
        self, info: Ctx, filter: ConversationFilter | None = None
    ) -> AsyncGenerator[ConversationEvent, None]:
        await ensure_may_listen(info.context.principal, info.context.database)
        items = conversations_activity(info.context, conversation_query(filter, None))
        async for event in _as_graphql(info, items):
            yield event
