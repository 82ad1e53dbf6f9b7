"""Agent sessions that waited too long for the user become STALE.

An agent that asked a question must not wait forever: past the timeout its session
closes as STALE (an AGENT_SESSION_STALE event tells its subscription), the
conversation is free for a new session, and an answer that comes later is refused
with a message saying so.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import AgentSession
from models.base import utcnow
from models.enums import AgentSessionStatus, EventKind
from resolvers import events
from resolvers.context import Context
from resolvers.errors import Conflict
from resolvers.ids import to_global_id
from resolvers.writes.conversations import lock_conversation
from resolvers.writes.transaction import transaction

log = logging.getLogger(__name__)
# Sessions read per query; each is then closed in a transaction of its own.
PAGE = 100


async def mark_stale(ctx: Context, timeout_seconds: float) -> int:
    """Close every session AWAITING_USER for longer than the timeout; how many were."""
    cutoff = utcnow() - timedelta(seconds=timeout_seconds)
    waiting = (
        select(col(AgentSession.id), col(AgentSession.conversation_id))
        .where(
            col(AgentSession.status) == AgentSessionStatus.AWAITING_USER,
            col(AgentSession.last_interaction_at) < cutoff,
        )
        .order_by(col(AgentSession.last_interaction_at))
        .limit(PAGE)
    )
    closed = 0
    while True:
        async with ctx.session_factory() as session:
            found = (await session.exec(waiting)).all()
        for agent_id, conversation_id in found:
            closed += await _close(ctx, agent_id, conversation_id, timeout_seconds)
        if len(found) < PAGE:
            break
    if closed:
        log.info("%d agent session(s) waited over %ss for the user: STALE", closed, timeout_seconds)
    return closed


async def _close(
    ctx: Context, agent_id: uuid.UUID, conversation_id: uuid.UUID, timeout_seconds: float
) -> int:
    cutoff = utcnow() - timedelta(seconds=timeout_seconds)
    async with transaction(ctx) as session:
        await lock_conversation(session, conversation_id)
        agent = await session.get(AgentSession, agent_id, populate_existing=True)
        # Answered (or ended) since it was read: the lock makes this check hold.
        if (
            agent is None
            or agent.status != AgentSessionStatus.AWAITING_USER
            or agent.last_interaction_at >= cutoff
        ):
            return 0
        agent.status = AgentSessionStatus.STALE
        agent.ended_at = utcnow()
        agent.error = f"no answer from the user within {timeout_seconds:g} seconds"
        await events.record(
            session,
            conversation_id,
            EventKind.AGENT_SESSION_STALE,
            {"error": agent.error},
            agent_session_id=agent.id,
            message_id=agent.message_id,
        )
    return 1


async def stale_refusal(session: AsyncSession, conversation_id: uuid.UUID) -> Conflict | None:
    """The error for a write that needed an open session, when the latest went STALE."""
    latest = await session.exec(
        select(AgentSession)
        .where(col(AgentSession.conversation_id) == conversation_id)
        .order_by(col(AgentSession.started_at).desc())
        .limit(1)
    )
    agent = latest.first()
    if agent is None or agent.status != AgentSessionStatus.STALE:
        return None
    return Conflict(
        f"the agent session went STALE ({agent.error}); the agent must start a new "
        "session (startAgentSession) and ask again",
        agentSessionId=to_global_id("AgentSession", agent.id),
    )
