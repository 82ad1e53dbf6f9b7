"""Writes to conversations and their participants."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Conversation, Participant
from models.base import utcnow
from models.enums import (
    ConversationKind,
    ConversationStatus,
    EventKind,
    ParticipantRole,
    ParticipantType,
)
from resolvers import events, validation
from resolvers.access import visible
from resolvers.context import Context
from resolvers.errors import BadInput, Conflict, Forbidden, NotFound
from resolvers.permissions import Access, Action
from resolvers.principal import Identity
from resolvers.writes import agent_identities
from resolvers.writes.commands import CreateConversation, NewParticipant, UpdateConversation, given
from resolvers.writes.transaction import existing_client_row, get_or_404, transaction, writer

MULTI_PARTY_FROM = 3


def _check_settings(temperature: float | None, max_tokens: int | None) -> None:
    validation.temperature(temperature)
    validation.positive("maxTokens", max_tokens)


async def create_conversation(ctx: Context, data: CreateConversation) -> Conversation:
    validation.not_blank("owner.participantId", data.owner.participant_id)
    validation.title("title", data.title)
    validation.json_object("metadata", data.metadata)
    tags = validation.tag_list("tags", data.tags)
    _check_settings(data.temperature, data.max_tokens)
    everyone = [data.owner, *data.participants]
    validation.unique("participants", [p.participant_id for p in everyone])
    for p in data.participants:
        validation.not_blank("participants.participantId", p.participant_id)
        if p.role == ParticipantRole.OWNER:
            raise BadInput("only `owner` can have the OWNER role")
    ctx.principal.require_identity(_identity(data.owner), "owner")
    async with transaction(ctx) as session:
        found = await existing_client_row(
            session,
            Conversation,
            data.id,
            owner_id=data.owner.participant_id,
            owner_type=data.owner.participant_type,
        )
        if found is not None:
            return found
        if data.parent_conversation_id is not None:
            # NOT_FOUND for a parent the writer cannot see, as for any id it cannot see.
            # The parent exists before its child, so the links never form a cycle.
            await get_or_404(session, Conversation, data.parent_conversation_id)
        await agent_identities.claim(session, ctx.principal, _agents(everyone))
        kind = ConversationKind.MULTI_PARTY if len(everyone) >= MULTI_PARTY_FROM else data.kind
        conversation = Conversation(
            id=data.id or uuid.uuid4(),
            kind=kind,
            title=data.title,
            summary=data.summary,
            tags=tags,
            meta=data.metadata,
            owner_id=data.owner.participant_id,
            owner_type=data.owner.participant_type,
            model_name=data.model_name,
            system_prompt=data.system_prompt,
            temperature=data.temperature,
            max_tokens=data.max_tokens,
            parent_conversation_id=data.parent_conversation_id,
        )
        session.add(conversation)
        session.add(_participant(conversation.id, data.owner, ParticipantRole.OWNER))
        session.add_all(_participant(conversation.id, p, p.role) for p in data.participants)
        await session.flush()
        await events.record(session, conversation.id, EventKind.CONVERSATION_CREATED)
    return conversation


def _identity(data: NewParticipant) -> Identity:
    return Identity(data.participant_type, data.participant_id)


def _agents(participants: list[NewParticipant]) -> list[str]:
    """The agents among them: ids nobody registered yet become the caller's."""
    return [p.participant_id for p in participants if p.participant_type == ParticipantType.AGENT]


def _participant(
    conversation_id: uuid.UUID, data: NewParticipant, role: ParticipantRole
) -> Participant:
    return Participant(
        conversation_id=conversation_id,
        participant_id=data.participant_id,
        participant_type=data.participant_type,
        role=role,
    )


async def lock_conversation(
    session: AsyncSession, conversation_id: uuid.UUID, action: Action = Action.POST
) -> Conversation:
    """The conversation, locked until commit, if the writer's role allows `action`.

    Every write in a conversation locks it first, so writes in one conversation
    take turns (checks such as "how many participants are active" cannot race)
    and always lock rows in the same order (no deadlocks).
    """
    conversation = await get_or_404(session, Conversation, conversation_id, lock=True)
    await require_action(session, conversation_id, action)
    return conversation


async def require_action(session: AsyncSession, conversation_id: uuid.UUID, action: Action) -> None:
    """FORBIDDEN unless the writer's role in the (visible) conversation allows `action`."""
    principal = writer(session)
    if principal.unrestricted or action.access == Access.READ:
        return
    allowed = await session.exec(
        select(func.count())
        .select_from(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            *visible(Conversation, principal, action.access),
        )
    )
    if not allowed.one():
        raise Forbidden(
            f"your role in this conversation does not let you {action.description}",
            needs=action.access.name,
        )


async def require_own_words(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    speakers: Iterable[Identity],
    otherwise: Action,
) -> None:
    """Changing what `speakers` said is the writer's own business when the writer may
    speak as each of them; if one is somebody else, the role must allow `otherwise`."""
    principal = writer(session)
    for speaker in set(speakers):
        if not await agent_identities.may_speak_as(session, principal, speaker):
            await require_action(session, conversation_id, otherwise)
            return


async def open_conversation(
    session: AsyncSession, conversation_id: uuid.UUID, action: Action = Action.POST
) -> Conversation:
    """The conversation, locked, which must not be CLOSED: closed ones are read-only."""
    conversation = await lock_conversation(session, conversation_id, action)
    if conversation.status == ConversationStatus.CLOSED:
        raise Conflict("the conversation is closed and cannot change")
    return conversation


async def update_conversation(
    ctx: Context, conversation_id: uuid.UUID, data: UpdateConversation
) -> Conversation:
    changes = given(data)
    if changes.get("metadata", {}) is None or changes.get("tags", []) is None:
        raise BadInput("`metadata` and `tags` cannot be null (send {} or [] to clear them)")
    if "title" in changes:
        validation.title("title", changes["title"])
    if "metadata" in changes:
        validation.json_object("metadata", changes["metadata"])
    if "tags" in changes:
        changes["tags"] = validation.tag_list("tags", changes["tags"])
    _check_settings(changes.get("temperature"), changes.get("max_tokens"))
    async with transaction(ctx) as session:
        conversation = await open_conversation(session, conversation_id, Action.UPDATE)
        # What live lists filter on, as it was: a list can drop a row that left its filter.
        before = {
            name: getattr(conversation, name) for name in ("title", "tags") if name in changes
        }
        for name, value in changes.items():
            setattr(conversation, "meta" if name == "metadata" else name, value)
        conversation.updated_at = utcnow()
        change = {"fields": sorted(changes), "before": before}
        await events.record(session, conversation_id, EventKind.CONVERSATION_UPDATED, change)
    return conversation


TRANSITIONS = {
    ConversationStatus.ARCHIVED: {ConversationStatus.ACTIVE},
    ConversationStatus.CLOSED: {ConversationStatus.ACTIVE, ConversationStatus.ARCHIVED},
    ConversationStatus.ACTIVE: {ConversationStatus.ARCHIVED},
}


async def set_status(
    ctx: Context, conversation_id: uuid.UUID, status: ConversationStatus
) -> Conversation:
    """Archive, restore or close; closing is final."""
    async with transaction(ctx) as session:
        conversation = await lock_conversation(session, conversation_id, Action.SET_STATUS)
        if conversation.status not in TRANSITIONS[status]:
            raise Conflict(f"a {conversation.status} conversation cannot become {status}")
        data = {"status": status.value, "before": {"status": conversation.status.value}}
        conversation.status = status
        conversation.updated_at = utcnow()
        # Retention of archived conversations counts from here.
        archived = status == ConversationStatus.ARCHIVED
        conversation.archived_at = conversation.updated_at if archived else None
        await events.record(session, conversation_id, EventKind.CONVERSATION_STATUS, data)
    return conversation


async def add_participant(
    ctx: Context, conversation_id: uuid.UUID, data: NewParticipant
) -> Participant:
    validation.not_blank("participantId", data.participant_id)
    if data.role == ParticipantRole.OWNER:
        raise BadInput("a conversation has one OWNER, its creator")
    async with transaction(ctx) as session:
        conversation = await open_conversation(session, conversation_id, Action.INVITE)
        await agent_identities.claim(session, ctx.principal, _agents([data]))
        participant = await _find_participant(session, conversation_id, data.participant_id)
        if participant is not None and participant.active:
            raise Conflict(f"'{data.participant_id}' is already a participant")
        if participant is None:
            participant = _participant(conversation_id, data, data.role)
            session.add(participant)
        else:
            participant.active, participant.left_at, participant.joined_at = True, None, utcnow()
            participant.role, participant.participant_type = data.role, data.participant_type
        await session.flush()
        active = await session.exec(
            select(func.count()).where(
                col(Participant.conversation_id) == conversation_id,
                col(Participant.active).is_(True),
            )
        )
        if active.one() >= MULTI_PARTY_FROM:
            conversation.kind = ConversationKind.MULTI_PARTY
        conversation.updated_at = conversation.last_activity_at = utcnow()
        await events.record(
            session, conversation_id, EventKind.PARTICIPANT_JOINED, participant_id=participant.id
        )
    return participant


async def remove_participant(
    ctx: Context, conversation_id: uuid.UUID, participant_id: str
) -> Participant:
    """The owner removes anyone but themselves; any participant may leave."""
    async with transaction(ctx) as session:
        conversation = await open_conversation(session, conversation_id, Action.LEAVE)
        participant = await _other_participant(session, conversation_id, participant_id)
        if not _is_self(ctx, participant):
            await require_action(session, conversation_id, Action.REMOVE_OTHERS)
        if not participant.active:
            raise Conflict(f"'{participant_id}' already left this conversation")
        participant.active, participant.left_at = False, utcnow()
        conversation.updated_at = conversation.last_activity_at = utcnow()
        await events.record(
            session, conversation_id, EventKind.PARTICIPANT_LEFT, participant_id=participant.id
        )
    return participant


async def set_participant_role(
    ctx: Context, conversation_id: uuid.UUID, participant_id: str, role: ParticipantRole
) -> Participant:
    """Promote or demote an active participant (the owner's own role stays OWNER)."""
    if role == ParticipantRole.OWNER:
        raise BadInput("a conversation has one OWNER, its creator")
    async with transaction(ctx) as session:
        await open_conversation(session, conversation_id, Action.REMOVE_OTHERS)
        participant = await _other_participant(session, conversation_id, participant_id)
        if not participant.active:
            raise Conflict(f"'{participant_id}' left this conversation")
        if participant.role == role:
            return participant
        before = {"role": participant.role.value}
        participant.role = role
        await events.record(
            session,
            conversation_id,
            EventKind.PARTICIPANT_ROLE_CHANGED,
            {"role": role.value, "before": before},
            participant_id=participant.id,
        )
    return participant


def _is_self(ctx: Context, participant: Participant) -> bool:
    identity = Identity(participant.participant_type, participant.participant_id)
    return identity in ctx.principal.identities


async def _other_participant(
    session: AsyncSession, conversation_id: uuid.UUID, participant_id: str
) -> Participant:
    """A participant who is not the owner (whose role and place are fixed)."""
    participant = await _find_participant(session, conversation_id, participant_id)
    if participant is None:
        raise NotFound(f"'{participant_id}' is not a participant of this conversation")
    if participant.role == ParticipantRole.OWNER:
        raise BadInput("the owner cannot leave their conversation or change role")
    return participant


async def _find_participant(
    session: AsyncSession, conversation_id: uuid.UUID, participant_id: str
) -> Participant | None:
    result = await session.exec(
        select(Participant).where(
            col(Participant.conversation_id) == conversation_id,
            col(Participant.participant_id) == participant_id,
        )
    )
    return result.first()
