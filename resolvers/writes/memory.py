"""A conversation's memory: the summary and pinned facts sent ahead of its history."""

from __future__ import annotations

import uuid

import strawberry

from models import Conversation
from models.base import utcnow
from models.enums import EventKind
from resolvers import events, validation
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.writes.conversations import open_conversation
from resolvers.writes.transaction import transaction


async def set_memory(
    ctx: Context,
    conversation_id: uuid.UUID,
    summary: str | None = strawberry.UNSET,
    pinned_facts: list[str] | None = strawberry.UNSET,
) -> Conversation:
    """Change what is given (null clears the summary; pinned facts are replaced whole)."""
    changes: dict[str, object] = {}
    if summary is not strawberry.UNSET:
        changes["summary"] = summary
    if pinned_facts is not strawberry.UNSET:
        if pinned_facts is None:
            raise BadInput("`pinnedFacts` cannot be null (send [] to clear them)")
        validation.string_list("pinnedFacts", pinned_facts)
        changes["pinned_facts"] = list(pinned_facts)
    if not changes:
        raise BadInput("give `summary`, `pinnedFacts` or both")
    async with transaction(ctx) as session:
        conversation = await open_conversation(session, conversation_id)
        for name, value in changes.items():
            setattr(conversation, name, value)
        conversation.updated_at = utcnow()
        # As updateConversation records its changes (the live lists filter on neither).
        change = {"fields": sorted(changes), "before": {}}
        await events.record(session, conversation_id, EventKind.CONVERSATION_UPDATED, change)
    return conversation
