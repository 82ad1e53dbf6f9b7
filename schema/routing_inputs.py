"""What a message is sent with to say where it goes and why (sendMessage, ingest)."""

from __future__ import annotations

import strawberry

from resolvers.errors import BadInput
from resolvers.ids import from_global_id
from resolvers.writes import commands as cmd
from resolvers.writes.routing import MAX_ROUTE_LENGTH, RUNS
from schema.commands import to_command
from schema.scalars import JSONValue

RUN_ID = "The run answering the message: the id of a Trace or an AgentSession of its conversation."


@strawberry.input(
    description="Why a message goes where it goes, as your router decided: kept on the "
    "message (`routingDecision`) and announced by a MESSAGE_ROUTED event."
)
class RoutingDecisionInput:
    route: str = strawberry.field(
        description="Where it goes: agent, model, tool, human... Free text, trimmed, 1 to "
        f"{MAX_ROUTE_LENGTH} characters; `routeStats` counts by it."
    )
    agent: str | None = strawberry.field(default=None, description="The agent it goes to.")
    reason: str | None = None
    rule: str | None = strawberry.field(default=None, description="The routing rule that chose.")
    intent: str | None = strawberry.field(default=None, description="The intent recognised.")
    confidence: float | None = strawberry.field(default=None, description="From 0 to 1.")
    metadata: JSONValue | None = strawberry.field(
        default=None, description="A JSON object; null: {}."
    )

    def to_command(self) -> cmd.RoutingDecision:
        metadata = {} if self.metadata is None else self.metadata
        return to_command(self, cmd.RoutingDecision, metadata=metadata)


def run_id(value: str | None) -> cmd.RunId | None:
    """The run a global id names, a Trace or an AgentSession; else BAD_USER_INPUT."""
    if value is None:
        return None
    type_name, raw = from_global_id(value)
    if type_name not in RUNS:
        raise BadInput(
            f"`runId` must be the id of a Trace or an AgentSession, got a {type_name} id: '{value}'"
        )
    return cmd.RunId(type_name, raw)
