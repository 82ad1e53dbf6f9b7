"""The mutations of conversations and their participants."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.enums import ConversationStatus, ParticipantRole
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.writes import conversations
from schema.conversation import Conversation, Participant
from schema.inputs import CreateConversationInput, ParticipantInput, UpdateConversationInput
from schema.node import from_row

Ctx = Info[Context, None]


async def _set_status(info: Ctx, id: strawberry.ID, status: ConversationStatus) -> Conversation:
    row = await conversations.set_status(info.context, parse_id(id, "Conversation"), status)
    return from_row(Conversation, row)


@strawberry.type
class ConversationMutations:
    @strawberry.mutation(description="The owner and the first counterparts become participants.")
    async def create_conversation(self, info: Ctx, input: CreateConversationInput) -> Conversation:
        row = await conversations.create_conversation(info.context, input.to_command())
        return from_row(Conversation, row)

    @strawberry.mutation(description="Title, summary, tags, metadata and model settings.")
    async def update_conversation(
        self, info: Ctx, id: strawberry.ID, input: UpdateConversationInput
    ) -> Conversation:
        row = await conversations.update_conversation(
            info.context, parse_id(id, "Conversation"), input.to_command()
        )
        return from_row(Conversation, row)

    @strawberry.mutation(description="Hide an ACTIVE conversation from default lists.")
    async def archive_conversation(self, info: Ctx, id: strawberry.ID) -> Conversation:
        return await _set_status(info, id, ConversationStatus.ARCHIVED)

    @strawberry.mutation(description="Bring an ARCHIVED conversation back to ACTIVE.")
    async def restore_conversation(self, info: Ctx, id: strawberry.ID) -> Conversation:
        return await _set_status(info, id, ConversationStatus.ACTIVE)

    @strawberry.mutation(description="Final: a CLOSED conversation is read-only.")
    async def close_conversation(self, info: Ctx, id: strawberry.ID) -> Conversation:
        return await _set_status(info, id, ConversationStatus.CLOSED)

    @strawberry.mutation(
        description="A third active participant makes the conversation MULTI_PARTY."
    )
    async def add_participant(
        self, info: Ctx, conversation_id: strawberry.ID, participant: ParticipantInput
    ) -> Participant:
        row = await conversations.add_participant(
            info.context, parse_id(conversation_id, "Conversation"), participant.to_command()
        )
        return from_row(Participant, row)

    @strawberry.mutation(
        description="Promote or demote a participant (MEMBER or OBSERVER); the owner's only."
    )
    async def set_participant_role(
        self, info: Ctx, conversation_id: strawberry.ID, participant_id: str, role: ParticipantRole
    ) -> Participant:
        row = await conversations.set_participant_role(
            info.context, parse_id(conversation_id, "Conversation"), participant_id, role
        )
        return from_row(Participant, row)

    @strawberry.mutation(
        description="Marks the participant inactive; history is kept. The owner removes "
        "others; anyone may remove themselves."
    )
    async def remove_participant(
        self, info: Ctx, conversation_id: strawberry.ID, participant_id: str
    ) -> Participant:
        row = await conversations.remove_participant(
            info.context, parse_id(conversation_id, "Conversation"), participant_id
        )
        return from_row(Participant, row)
