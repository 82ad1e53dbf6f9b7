"""`routeStats`: the routed messages of a time range counted by route (issue 19), so that
operators see how often messages go to an agent rather than to a plain model (the
delegation rate).

A message's route is a column, copied from its decision when written
(resolvers.writes.routing); the routed messages of a range are read by an index of
those rows alone (migration 0028). Only messages of the conversations the caller can
read are counted, decided in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import col

from models import Message
from resolvers.access import among_visible_conversations
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.filters import json_text_at


@dataclass(frozen=True)
class RouteQuery:
    """Messages created in [created_after, created_before) (None: unbounded), and, with
    `agent`, only those whose decision named that agent."""

    created_after: datetime | None = None
    created_before: datetime | None = None
    agent: str | None = None


@dataclass(frozen=True)
class RouteCount:
    route: str
    messages: int


async def route_counts(ctx: Context, q: RouteQuery) -> list[RouteCount]:
    """Per route, by route."""
    after, before = q.created_after, q.created_before
    if after is not None and before is not None and after >= before:
        raise BadInput("`createdAfter` must be before `createdBefore`")
    route = col(Message.route)
    where = [
        route.is_not(None),
        *among_visible_conversations(col(Message.conversation_id), ctx.principal),
    ]
    if after is not None:
        where.append(col(Message.created_at) >= after)
    if before is not None:
        where.append(col(Message.created_at) < before)
    if q.agent is not None:
        where.append(json_text_at(col(Message.routing_decision), ("agent",)) == q.agent)
    statement = select(route, func.count()).where(*where).group_by(route).order_by(route)
    rows = await ctx.loaders.fetch(statement)
    return [RouteCount(name, int(count)) for name, count in rows]
