"""The root reads of how agent runs went: `agentSessions`, `agentSessionStats`, and how
messages were routed to them: `routeStats`."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.enums import AgentSessionStatus
from resolvers import agent_sessions
from resolvers.analytics.routes import RouteQuery, route_counts
from resolvers.context import Context
from resolvers.pagination import PageArgs
from schema.agent import AgentSession
from schema.node import from_row
from schema.pagination import Connection, PageArguments
from schema.routing import RouteCount
from schema.scalars import Long

STARTED_AFTER = "Sessions started at or after this instant."
STARTED_BEFORE = "Sessions started before this instant."
CREATED_AFTER = "Messages created at or after this instant."
CREATED_BEFORE = "Messages created before this instant."


@strawberry.input(description="Every condition given must hold.")
class AgentSessionFilter:
    statuses: list[AgentSessionStatus] | None = strawberry.field(
        default=None,
        description="Empty or null: any. FAILED holds the runs that failed (failRun) and "
        "those abandoned by a silent agent (AGENT_STREAM_TIMEOUT_SECONDS); STALE those "
        "whose question went unanswered (AGENT_WAIT_TIMEOUT_SECONDS). `error` says which.",
    )
    started_after: datetime | None = strawberry.field(default=None, description=STARTED_AFTER)
    started_before: datetime | None = strawberry.field(default=None, description=STARTED_BEFORE)


@strawberry.type(description="One agent's sessions in a time range: how they ended.")
class AgentSessionStats:
    agent_id: str = strawberry.field(description="The sessions' profile name.")
    sessions: Long
    completed: Long
    failed: Long
    stale: Long
    questions: Long = strawberry.field(description="Questions asked (askUser).")
    answered: Long = strawberry.field(description="Questions the user answered.")

    @classmethod
    def of(cls, stats: agent_sessions.AgentStats) -> AgentSessionStats:
        return cls(**vars(stats))

    @strawberry.field(description="completed / sessions (0 without sessions).")
    def completion_rate(self) -> float:
        return _rate(self.completed, self.sessions)

    @strawberry.field(description="failed / sessions.")
    def failure_rate(self) -> float:
        return _rate(self.failed, self.sessions)

    @strawberry.field(description="stale / sessions.")
    def stale_rate(self) -> float:
        return _rate(self.stale, self.sessions)

    @strawberry.field(description="answered / questions (0 without questions).")
    def answer_rate(self) -> float:
        return _rate(self.answered, self.questions)


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@strawberry.type
class AgentQueries:
    @strawberry.field(
        description="Agent sessions of the conversations you can read, newest first, with "
        "their `error` when they failed or went stale.",
        extensions=[PageArguments()],
    )
    async def agent_sessions(
        self,
        info: Info[Context, None],
        filter: AgentSessionFilter | None = None,
        page: PageArgs = PageArgs(),
    ) -> Connection[AgentSession]:
        ctx, f = info.context, filter or AgentSessionFilter()
        started = agent_sessions.SessionRange(f.started_after, f.started_before)
        statuses = tuple(f.statuses) if f.statuses else None
        found = await agent_sessions.agent_sessions(ctx, statuses, started, ctx.page_request(page))
        return Connection.of(found.page, partial(from_row, AgentSession), found.count)

    @strawberry.field(
        description="Per agent, by agent id: the sessions started in the range in the "
        "conversations you can read, by how they ended, and their questions answered."
    )
    async def agent_session_stats(
        self,
        info: Info[Context, None],
        started_after: Annotated[
            datetime | None, strawberry.argument(description=STARTED_AFTER)
        ] = None,
        started_before: Annotated[
            datetime | None, strawberry.argument(description=STARTED_BEFORE)
        ] = None,
    ) -> list[AgentSessionStats]:
        started = agent_sessions.SessionRange(started_after, started_before)
        found = await agent_sessions.agent_stats(info.context, started)
        return [AgentSessionStats.of(stats) for stats in found]

    @strawberry.field(
        description="Per route, by route: the messages created in the range in the "
        "conversations you can read that were sent with a routing decision, and the share of "
        "each route among them (the delegation rate, for the route `agent`)."
    )
    async def route_stats(
        self,
        info: Info[Context, None],
        created_after: Annotated[
            datetime | None, strawberry.argument(description=CREATED_AFTER)
        ] = None,
        created_before: Annotated[
            datetime | None, strawberry.argument(description=CREATED_BEFORE)
        ] = None,
        agent: Annotated[
            str | None, strawberry.argument(description="Only the decisions naming this agent.")
        ] = None,
    ) -> list[RouteCount]:
        query = RouteQuery(created_after, created_before, agent)
        return RouteCount.all_of(await route_counts(info.context, query))
