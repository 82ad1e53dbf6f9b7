"""The cross-conversation feed behind live conversation lists."""

from __future__ import annotations

from collections.abc import AsyncIterator

from resolvers.context import Context
from resolvers.errors import ResumeRequired
from resolvers.events import LoadedEvent
from resolvers.reads import ConversationQuery, conversation_matches
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
            if await conversation_matches(ctx, query, got.event.conversation_id):
                yield got
