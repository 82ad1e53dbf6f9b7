"""Agent sessions that waited too long become STALE, or FAILED: runs always end.

An agent that asked a question must not wait forever: past AGENT_WAIT_TIMEOUT_SECONDS
its session closes as STALE (an AGENT_SESSION_STALE event tells its subscription), the
conversation is free for a new session, and an answer that comes later is refused
with a message saying so. An agent that goes silent while ACTIVE must not hold its
run open forever: past AGENT_STREAM_TIMEOUT_SECONDS its run FAILS as failRun would
fail it (run_end).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from models import AgentSession, Message
from models.base import utcnow
from models.enums import AgentSessionStatus, EventKind, MessageStatus
from models.event import OPEN_EITHER
from resolvers import events
from resolvers.context import Context
from resolvers.errors import Conflict
from resolvers.ids import to_global_id
from resolvers.writes import run_state
from resolvers.writes.conversations import lock_conversation
from resolvers.writes.run_end import Outcome, end_run
from resolvers.writes.transaction import transaction

log = logging.getLogger(__name__)
# Sessions read per query; each is then closed in a transaction of its own.
PAGE = 100


async def mark_stale(ctx: Context, timeout_seconds: float) -> int:
    """Close every session AWAITING_USER for longer than the timeout; how many were."""
    return await _sweep(ctx, AgentSessionStatus.AWAITING_USER, timeout_seconds, _go_stale)


async def fail_silent(ctx: Context, timeout_seconds: float) -> int:
    """Fail every ACTIVE session whose agent said nothing for longer than the timeout,
    with all of its run still open; how many were."""
    return await _sweep(ctx, AgentSessionStatus.ACTIVE, timeout_seconds, _fail)


Close = Callable[[AsyncSession, AgentSession, float], Awaitable[None]]


def silent_sessions(status: AgentSessionStatus, cutoff: datetime) -> Select[uuid.UUID, uuid.UUID]:
    """A page of the sessions in `status` not heard from since `cutoff`, the longest
    silent first: ix_agent_sessions_open_last_interaction answers it, however many
    sessions ever ended."""
    return (
        select(col(AgentSession.id), col(AgentSession.conversation_id))
        .where(
            text(OPEN_EITHER),
            col(AgentSession.status) == status,
            col(AgentSession.last_interaction_at) < cutoff,
        )
        .order_by(col(AgentSession.last_interaction_at))
        .limit(PAGE)
    )


async def _sweep(
    ctx: Context, status: AgentSessionStatus, timeout_seconds: float, close: Close
) -> int:
    """Close the sessions in `status` silent for longer than the timeout, each in a
    transaction of its own, read a page at a time."""
    silent = silent_sessions(status, utcnow() - timedelta(seconds=timeout_seconds))
    closed = 0
    while True:
        async with ctx.session_factory() as session:
            found = (await session.exec(silent)).all()
        for agent_id, conversation_id in found:
            closed += await _close(ctx, agent_id, conversation_id, status, timeout_seconds, close)
        if len(found) < PAGE:
            break
    if closed:
        log.info("%d %s agent session(s) silent over %ss: closed", closed, status, timeout_seconds)
    return closed


async def _close(
    ctx: Context,
    agent_id: uuid.UUID,
    conversation_id: uuid.UUID,
    status: AgentSessionStatus,
    timeout_seconds: float,
    close: Close,
) -> int:
    cutoff = utcnow() - timedelta(seconds=timeout_seconds)
    async with transaction(ctx) as session:
        await lock_conversation(session, conversation_id)
        agent = await session.get(AgentSession, agent_id, populate_existing=True)
        # Heard from (or ended, by a request or another process's sweep) since it was
        # read: the lock makes this check hold, so a session closes once.
        if agent is None or agent.status != status or agent.last_interaction_at >= cutoff:
            return 0
        await close(session, agent, timeout_seconds)
    return 1


async def _go_stale(session: AsyncSession, agent: AgentSession, timeout_seconds: float) -> None:
    agent.status = AgentSessionStatus.STALE
    agent.ended_at = utcnow()
    agent.error = f"no answer from the user within {timeout_seconds:g} seconds"
    await events.record(
        session,
        agent.conversation_id,
        EventKind.AGENT_SESSION_STALE,
        {"error": agent.error},
        agent_session_id=agent.id,
        message_id=agent.message_id,
    )


async def _fail(session: AsyncSession, agent: AgentSession, timeout_seconds: float) -> None:
    """As failRun: the run's message ERROR, its spans and traces ended as errors, an ERROR
    event (the one subscribers already end runs on)."""
    reason = f"no activity from the agent within {timeout_seconds:g} seconds"
    message = None
    if agent.message_id is not None:
        message = await session.get(Message, agent.message_id, with_for_update=True)
    # Silence may pass: the run can be tried again.
    failed = Outcome(
        AgentSessionStatus.FAILED,
        MessageStatus.ERROR,
        EventKind.ERROR,
        reason,
        error_type=run_state.AGENT_TIMEOUT,
        retryable=True,
    )
    await end_run(session, agent.conversation_id, agent, message, failed)


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
