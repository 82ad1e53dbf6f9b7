"""Routing decisions as they read: a message's (`Message.routingDecision`, the
MESSAGE_ROUTED event's), the run answering the message (`Message.run`), and the
messages of each route (`routeStats`)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

import models
from resolvers.analytics.routes import RouteCount as Counted
from resolvers.context import Context
from schema.agent import AgentSession
from schema.node import related
from schema.scalars import JSONValue, Long
from schema.trace import Trace

Run = Annotated[
    Trace | AgentSession,
    strawberry.union("Run", description="A run answering a message: a trace or an agent session."),
]


@strawberry.type(description="Why a message went where it went, as its sender's router decided.")
class RoutingDecision:
    route: str = strawberry.field(description="Where it went: agent, model, tool, human...")
    agent: str | None = strawberry.field(description="The agent it went to.")
    reason: str | None
    rule: str | None = strawberry.field(description="The routing rule that chose.")
    intent: str | None = strawberry.field(description="The intent recognised.")
    confidence: float | None = strawberry.field(description="From 0 to 1.")
    metadata: JSONValue

    @classmethod
    def of(cls, stored: dict[str, Any]) -> RoutingDecision:
        """The decision as resolvers.writes.routing stored it (fields not given left out)."""
        return cls(
            route=stored["route"],
            agent=stored.get("agent"),
            reason=stored.get("reason"),
            rule=stored.get("rule"),
            intent=stored.get("intent"),
            confidence=stored.get("confidence"),
            metadata=stored.get("metadata", {}),
        )


async def run_of(info: Info[Context, None], message: models.Message) -> Trace | AgentSession | None:
    """The run answering the message; None when none, when deleted, or when it is not in
    the message's conversation (a copy imported with new ids keeps its original's)."""
    run: Trace | AgentSession | None = await related(info, Trace, message.run_trace_id)
    if run is None:
        run = await related(info, AgentSession, message.run_session_id)
    if run is None or run.row.conversation_id != message.conversation_id:
        return None
    return run


@strawberry.type(description="The routed messages of one route.")
class RouteCount:
    route: str
    messages: Long
    share: float = strawberry.field(
        description="Of the routed messages counted, the part that took this route (0 to 1): "
        "the delegation rate, for the route `agent`."
    )

    @classmethod
    def all_of(cls, counted: list[Counted]) -> list[RouteCount]:
        total = sum(c.messages for c in counted)
        return [cls(route=c.route, messages=c.messages, share=c.messages / total) for c in counted]
