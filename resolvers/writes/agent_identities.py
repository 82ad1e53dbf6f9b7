"""Agents as principals owned by users: registering them, and who may speak as whom.

An agent id is unique across the installation and belongs to the user who registered
it. A key speaks as an agent only if its creator owns it, and an agent id nobody has
registered yet is claimed by the first user who names it (registers it, makes a key
for it, or adds it to a conversation), so nobody can register it later to read the
conversations it already takes part in.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Agent, Message
from models.base import utcnow
from models.enums import ParticipantType
from resolvers import validation
from resolvers.context import Context
from resolvers.errors import Forbidden
from resolvers.principal import Identity, Principal
from resolvers.writes.transaction import insert_ignoring_duplicates, transaction, writer


async def register_agent(ctx: Context, agent_id: str, name: str | None) -> Agent:
    """Register an agent id for the calling user; registering one's own again renames it."""
    ctx.principal.require_user("register agents")
    validation.not_blank("agentId", agent_id)
    async with transaction(ctx) as session:
        await require_own_agent(session, ctx.principal, agent_id)
        agent = await session.get(Agent, agent_id, populate_existing=True)
        assert agent is not None
        if name is not None:
            agent.name = name
    return agent


async def claim(session: AsyncSession, principal: Principal, agent_ids: Iterable[str]) -> None:
    """Register the agent ids nobody has yet to the principal's user."""
    for agent_id in dict.fromkeys(agent_ids):
        await session.exec(
            insert_ignoring_duplicates(
                session, Agent, id=agent_id, owner_id=principal.user_id, created_at=utcnow()
            )
        )


async def owners(session: AsyncSession, agent_ids: Iterable[str]) -> dict[str, str]:
    """The owner of each of these agents that is registered."""
    found = await session.exec(
        select(col(Agent.id), col(Agent.owner_id)).where(col(Agent.id).in_(set(agent_ids)))
    )
    return dict(found.all())


async def require_own_agent(session: AsyncSession, principal: Principal, agent_id: str) -> None:
    """The agent is the principal's user's (claimed for them if nobody had it)."""
    await claim(session, principal, [agent_id])
    owner = (await owners(session, [agent_id]))[agent_id]
    if owner != principal.user_id:
        raise Forbidden(f"the agent '{agent_id}' is registered by another user")


async def require_author(session: AsyncSession, message: Message) -> None:
    """Whatever grows or ends a message speaks in its sender's name (who writes: the
    session's principal): nobody changes what somebody else said."""
    sender = Identity(message.sender_type, message.sender_id)
    await require_speaker(session, writer(session), sender)


async def may_speak_as(session: AsyncSession, principal: Principal, speaker: Identity) -> bool:
    try:
        await require_speaker(session, principal, speaker)
    except Forbidden:
        return False
    return True


async def require_speaker(session: AsyncSession, principal: Principal, speaker: Identity) -> None:
    """The principal may speak as `speaker`: one of its own identities, or an agent its
    user owns. SYSTEM speaks only in development mode (a conversation's owner sets the
    system prompt instead)."""
    if principal.is_one_of_mine(speaker):
        return
    if speaker.type == ParticipantType.AGENT and principal.agent_id is None:
        owned = await owners(session, [speaker.id])
        if owned.get(speaker.id) == principal.user_id:
            return
    principal.require_identity(speaker, "sender")
