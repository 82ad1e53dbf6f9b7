"""AgentSession type: an agent working in a conversation."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

import models
from models.enums import AgentSessionStatus
from resolvers.context import Context
from schema.node import Node, related, required

if TYPE_CHECKING:
    from schema.conversation import Conversation
    from schema.message import Message

ConversationT = Annotated["Conversation", strawberry.lazy("schema.conversation")]
MessageT = Annotated["Message", strawberry.lazy("schema.message")]


@strawberry.type(description="At most one session per conversation is open at a time.")
class AgentSession(Node):
    id: strawberry.ID
    profile_name: str
    status: AgentSessionStatus
    question: str | None = strawberry.field(
        description="What the agent asked, while AWAITING_USER."
    )
    error: str | None
    started_at: datetime
    last_interaction_at: datetime
    ended_at: datetime | None
    row: strawberry.Private[models.AgentSession]

    @strawberry.field
    async def conversation(self, info: Info[Context, None]) -> ConversationT:
        from schema.conversation import Conversation

        return await required(info, Conversation, self.row.conversation_id)

    @strawberry.field(description="The message the agent is producing.")
    async def message(self, info: Info[Context, None]) -> MessageT | None:
        from schema.message import Message

        return await related(info, Message, self.row.message_id)
