"""Routing decisions (issue 19): why a message went to an agent, a plain model, a tool or
a person, and the run (a trace or an agent session) that answers it.

sendMessage's write (resolvers.writes.messages) stores the decision on the message as
sent, its route trimmed and copied to a column of its own, and the run's id; the run
must be one the writer sees, in the message's conversation. A message with a decision
gets a MESSAGE_ROUTED event after its MESSAGE_CREATED, in the same transaction: the
decision in its data, the message and the run among the rows it points at. The
transaction counts it by route once it commits (resolvers.counters).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from models import AgentSession, Message, Trace
from models.enums import EventKind
from resolvers import events, validation
from resolvers.counters import DECISION
from resolvers.errors import BadInput
from resolvers.writes.commands import RoutingDecision, SendMessage
from resolvers.writes.transaction import get_or_404

MAX_ROUTE_LENGTH = 64
# Names an agent, a rule or an intent: a reader groups or filters by them.
NAMED = ("agent", "rule", "intent")
# Per type of run: its table, and the message's column holding its id.
RUNS: dict[str, tuple[Any, str]] = {
    "Trace": (Trace, "run_trace_id"),
    "AgentSession": (AgentSession, "run_session_id"),
}


def check(decision: RoutingDecision | None) -> None:
    """BAD_USER_INPUT for a decision that is not one, before anything is written."""
    if decision is None:
        return
    route = decision.route.strip()
    if not route:
        raise BadInput("`routingDecision.route` cannot be empty")
    validation.at_most("`routingDecision.route`", route, MAX_ROUTE_LENGTH)
    for name in NAMED:
        value = getattr(decision, name)
        if value is not None:
            validation.not_blank(f"routingDecision.{name}", value)
            validation.identifier(f"`routingDecision.{name}`", value)
    validation.in_range("routingDecision.confidence", decision.confidence, 0.0, 1.0)
    validation.json_object("routingDecision.metadata", decision.metadata)


async def route(session: AsyncSession, message: Message, data: SendMessage) -> None:
    """Give the new message its decision and its run, which the writer must see (else
    NOT_FOUND) in the message's conversation (else BAD_USER_INPUT)."""
    decision = data.routing_decision
    if decision is not None:
        stored = {**dataclasses.asdict(decision), "route": decision.route.strip()}
        message.routing_decision = {k: v for k, v in stored.items() if v is not None}
        message.route = stored["route"]
    run = data.run_id
    if run is None:
        return
    model, column = RUNS[run.type_name]
    found = await get_or_404(session, model, run.id)
    if found.conversation_id != message.conversation_id:
        raise BadInput(f"`runId`: the {run.type_name} belongs to another conversation")
    setattr(message, column, run.id)


async def record(session: AsyncSession, message: Message) -> None:
    """MESSAGE_ROUTED, for a message with a decision (after its MESSAGE_CREATED)."""
    if message.routing_decision is None:
        return
    await events.record(
        session,
        message.conversation_id,
        EventKind.MESSAGE_ROUTED,
        {DECISION: message.routing_decision},
        message_id=message.id,
        trace_id=message.run_trace_id,
        agent_session_id=message.run_session_id,
    )
