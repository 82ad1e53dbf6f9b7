"""Agent sessions across the caller's conversations (issue 19): the root `agentSessions`
list (how runs ended, with their reasons) and `agentSessionStats` (per agent, how its
sessions ended and how often its questions were answered). Visibility is each session's
conversation's, decided in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlmodel import col

from models import AgentSession, Event
from models.enums import AgentSessionStatus, EventKind
from resolvers.access import visible
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.pagination import Ordering, PageRequest
from resolvers.reads import RootPage, root_page

NEWEST_FIRST = Ordering(col(AgentSession.started_at), col(AgentSession.id), descending=True)


@dataclass(frozen=True)
class SessionRange:
    """Sessions started in [started_after, started_before); None: unbounded."""

    started_after: datetime | None = None
    started_before: datetime | None = None

    def conditions(self, ctx: Context) -> list[ColumnElement[bool]]:
        after, before = self.started_after, self.started_before
        if after is not None and before is not None and after >= before:
            raise BadInput("`startedAfter` must be before `startedBefore`")
        found = visible(AgentSession, ctx.principal)
        if after is not None:
            found.append(col(AgentSession.started_at) >= after)
        if before is not None:
            found.append(col(AgentSession.started_at) < before)
        return found


async def agent_sessions(
    ctx: Context,
    statuses: tuple[AgentSessionStatus, ...] | None,
    started: SessionRange,
    request: PageRequest,
) -> RootPage:
    where = started.conditions(ctx)
    if statuses:
        where.append(col(AgentSession.status).in_(statuses))
    return await root_page(ctx, AgentSession, where, request, NEWEST_FIRST)


@dataclass(frozen=True)
class AgentStats:
    """One agent's sessions in a range, by how they ended, and its questions."""

    agent_id: str
    sessions: int
    completed: int
    failed: int
    stale: int
    questions: int
    answered: int


async def agent_stats(ctx: Context, started: SessionRange) -> list[AgentStats]:
    """Per agent (a session's profile), by agent id."""
    where = started.conditions(ctx)
    sessions = select(col(AgentSession.id)).where(*where)
    kind = col(Event.kind)
    exchanges = (
        select(
            col(Event.agent_session_id).label("id"),
            func.count().filter(kind == EventKind.ASK_USER).label("questions"),
            func.count().filter(kind == EventKind.USER_ANSWER).label("answered"),
        )
        .where(
            col(Event.agent_session_id).in_(sessions),
            kind.in_((EventKind.ASK_USER, EventKind.USER_ANSWER)),
        )
        .group_by(col(Event.agent_session_id))
        .subquery("exchanges")
    )
    status = col(AgentSession.status)
    statement = (
        select(
            col(AgentSession.profile_name),
            func.count(),
            *(
                func.count().filter(status == ended)
                for ended in (
                    AgentSessionStatus.COMPLETED,
                    AgentSessionStatus.FAILED,
                    AgentSessionStatus.STALE,
                )
            ),
            func.coalesce(func.sum(exchanges.c.questions), 0),
            func.coalesce(func.sum(exchanges.c.answered), 0),
        )
        .select_from(AgentSession)
        .outerjoin(exchanges, exchanges.c.id == col(AgentSession.id))
        .where(*where)
        .group_by(col(AgentSession.profile_name))
        .order_by(col(AgentSession.profile_name))
    )
    rows = await ctx.loaders.fetch(statement)
    return [AgentStats(row[0], *(int(value) for value in row[1:])) for row in rows]
