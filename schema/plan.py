"""Plan and PlanStep types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

import models
from models.enums import PlanStatus, StepStatus
from resolvers.context import Context
from resolvers.relations import (
    DEPENDENCIES_OF_STEP,
    DEPENDENTS_OF_STEP,
    SPANS_OF_STEP,
    STEPS_OF_PLAN,
)
from schema.node import Node, from_row, from_rows, related, required
from schema.scalars import JSONValue

if TYPE_CHECKING:
    from schema.conversation import Conversation
    from schema.message import Message
    from schema.trace import Span

ConversationT = Annotated["Conversation", strawberry.lazy("schema.conversation")]
MessageT = Annotated["Message", strawberry.lazy("schema.message")]
SpanT = Annotated["Span", strawberry.lazy("schema.trace")]


@strawberry.type
class Plan(Node):
    id: strawberry.ID
    title: str
    description: str | None
    status: PlanStatus
    current_step_index: int | None
    context: JSONValue
    max_retries: int = strawberry.field(
        description="How many times each FAILED step may run again (3 unless createPlan said)."
    )
    timeout_seconds: int | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = strawberry.field(
        description="When the plan reached a final status (COMPLETED, FAILED or CANCELLED): "
        "null until then, never changed after."
    )
    row: strawberry.Private[models.Plan]

    @strawberry.field
    async def conversation(self, info: Info[Context, None]) -> ConversationT:
        from schema.conversation import Conversation

        return await required(info, Conversation, self.row.conversation_id)

    @strawberry.field(description="The message that produced this plan.")
    async def message(self, info: Info[Context, None]) -> MessageT | None:
        from schema.message import Message

        return await related(info, Message, self.row.message_id)

    @strawberry.field(description="In order.")
    async def steps(self, info: Info[Context, None]) -> list[PlanStep]:
        rows = await info.context.loaders.rows_by(STEPS_OF_PLAN).load(self.row.id)
        return from_rows(PlanStep, rows)

    @classmethod
    def of(cls, row: models.Plan) -> Plan:
        return from_row(cls, row)


@strawberry.type
class PlanStep(Node):
    id: strawberry.ID
    position: int = strawberry.field(description="0-based order within the plan.")
    description: str
    status: StepStatus
    result: JSONValue | None
    error: str | None
    retries: int
    started_at: datetime | None
    completed_at: datetime | None
    row: strawberry.Private[models.PlanStep]

    @strawberry.field
    async def plan(self, info: Info[Context, None]) -> Plan:
        return await required(info, Plan, self.row.plan_id)

    @strawberry.field(description="Steps that must be COMPLETED before this one starts.")
    async def dependencies(self, info: Info[Context, None]) -> list[PlanStep]:
        rows = await info.context.loaders.rows_by(DEPENDENCIES_OF_STEP).load(self.row.id)
        return from_rows(PlanStep, rows)

    @strawberry.field(description="Steps waiting on this one.")
    async def dependents(self, info: Info[Context, None]) -> list[PlanStep]:
        rows = await info.context.loaders.rows_by(DEPENDENTS_OF_STEP).load(self.row.id)
        return from_rows(PlanStep, rows)

    @strawberry.field(description="Spans that executed this step.")
    async def spans(self, info: Info[Context, None]) -> list[SpanT]:
        from schema.trace import Span

        rows = await info.context.loaders.rows_by(SPANS_OF_STEP).load(self.row.id)
        return from_rows(Span, rows)
