"""The cross-conversation feed behind live conversation lists."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from models import Conversation
from resolvers.context import Context
from resolvers.db import brief, is_unavailable
from resolvers.errors import RETRY_AFTER_SECONDS, ResumeRequired
from resolvers.events import LoadedEvent
from resolvers.principal import Identity, Principal
from resolvers.reads import ConversationQuery, conversation_matches, matches_row
from subscriptions.channels import ACTIVITY
from subscriptions.hub import Signal
from subscriptions.streams import require_bus

log = logging.getLogger(__name__)
INTERRUPTED = "live updates were interrupted; refetch the list and subscribe again"


async def conversations_activity(
    ctx: Context, query: ConversationQuery
) -> AsyncIterator[LoadedEvent]:
    """Activity events of the conversations the query matches, live only.

    A list view refetches its first page when told to resume (after a reconnect of the
    broadcast, or a database failure); there is no cursor across conversations to
    replay from.
    """
    bus = require_bus(ctx)
    async with bus.hub.listen(ACTIVITY) as feed:
        while True:
            got = await feed.get()
            if isinstance(got, Signal):
                # Even a reconnect may have hidden changes, and there is no cursor to replay.
                raise ResumeRequired(INTERRUPTED)
            try:
                concerns = await _concerns(ctx, query, got)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("conversation list feed interrupted: %s", brief(exc))
                raise ResumeRequired(INTERRUPTED, retryAfter=RETRY_AFTER_SECONDS) from exc
            if concerns:
                yield got


def _may_see(principal: Principal, row: Conversation, members: frozenset[Identity]) -> bool:
    """Visibility (resolvers.access) evaluated on rows the hub loaded once for everybody."""
    return principal.is_one_of_mine(Identity(row.owner_type, row.owner_id)) or not (
        members.isdisjoint(principal.identities)
    )


async def _concerns(ctx: Context, query: ConversationQuery, got: LoadedEvent) -> bool:
    """The conversation matches the filter now, or did before this change (so the list
    hears that it left). The hub loaded the row once for every subscriber: only a
    participant filter needs a query."""
    row = got.rows.get("conversation_id")
    if row is None or not _may_see(ctx.principal, row, got.members):
        return False
    before = got.event.data.get("before")
    if not matches_row(query, row) and not (before and matches_row(query, row, before)):
        return False
    if query.participant_id is None:
        return True
    with_participant = ConversationQuery(
        participant_id=query.participant_id, participant_type=query.participant_type
    )
    return await conversation_matches(ctx, with_participant, row.id)
