"""The cross-conversation feed behind live conversation lists."""

from __future__ import annotations

from collections.abc import AsyncIterator

from models import Conversation
from resolvers.context import Context
from resolvers.errors import ResumeRequired
from resolvers.events import LoadedEvent
from resolvers.reads import ConversationQuery, conversation_matches, matched_before
from subscriptions.channels import ACTIVITY
from subscriptions.hub import Signal
from subscriptions.streams import require_bus


async def conversations_activity(
    ctx: Context, query: ConversationQuery
) -> AsyncIterator[LoadedEvent]:
    """Activity events of the conversations the query matches, live only.

    A list view refetches its first page when told to resume; there is no
    cursor across conversations to replay from.
    """
    bus = require_bus(ctx)
    async with bus.hub.listen(ACTIVITY) as feed:
        while True:
            got = await feed.get()
            if isinstance(got, Signal):
                # Even a reconnect may have hidden changes, and there is no cursor to replay.
                raise ResumeRequired(
                    "live updates were interrupted; refetch the list and subscribe again"
                )
            if await _concerns(ctx, query, got):
                yield got


async def _concerns(ctx: Context, query: ConversationQuery, got: LoadedEvent) -> bool:
    """The conversation matches the filter now, or did before this change (so the list
    hears that it left)."""
    conversation_id = got.event.conversation_id
    if await conversation_matches(ctx, query, conversation_id):
        return True
    before = got.event.data.get("before")
    if not before:
        return False
    row = await ctx.loaders.by_id(Conversation).load(conversation_id)
    if row is None or not matched_before(query, row, before):
        return False
    with_participant = ConversationQuery(participant_id=query.participant_id)
    return query.participant_id is None or await conversation_matches(
        ctx, with_participant, conversation_id
    )
