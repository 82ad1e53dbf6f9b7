"""A conversation's memory: the summary and pinned facts sent ahead of its history."""

from __future__ import annotations

import uuid

from models import Conversation
from models.base import utcnow
from models.enums import EventKind
from resolvers import events, validation
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.writes.commands import KEEP, SetMemory
from resolvers.writes.conversations import open_conversation
from resolvers.writes.transaction import transaction


async def set_memory(ctx: Context, conversation_id: uuid.UUID, data: SetMemory) -> Conversation:
    """Change what is given (null clears the summary; pinned facts are replaced whole)."""
    changes: dict[str, object] = {}
    if data.summary is not KEEP:
        changes["summary"] = data.summary
    if data.pinned_facts is not KEEP:
        if data.pinned_facts is None:
            raise BadInput("`pinnedFacts` cannot be null (send [] to clear them)")
        validation.string_list("pinnedFacts", data.pinned_facts)
        changes["pinned_facts"] = list(data.pinned_facts)
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
