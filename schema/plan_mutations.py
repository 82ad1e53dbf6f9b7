"""The mutations of plans and their steps."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.enums import PlanStatus
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.writes import plans
from schema.inputs import CreatePlanInput, UpdateStepStatusInput
from schema.node import from_row
from schema.plan import Plan, PlanStep

Ctx = Info[Context, None]


@strawberry.type
class PlanMutations:
    @strawberry.mutation
    async def create_plan(self, info: Ctx, input: CreatePlanInput) -> Plan:
        return from_row(Plan, await plans.create_plan(info.context, input.to_command()))

    @strawberry.mutation(description="A step starts only once all its dependencies are COMPLETED.")
    async def update_step_status(self, info: Ctx, input: UpdateStepStatusInput) -> PlanStep:
        row = await plans.update_step_status(info.context, input.to_command())
        return from_row(PlanStep, row)

    @strawberry.mutation
    async def add_step_dependency(
        self, info: Ctx, step_id: strawberry.ID, depends_on_step_id: strawberry.ID
    ) -> PlanStep:
        row = await plans.add_step_dependency(
            info.context, parse_id(step_id, "PlanStep"), parse_id(depends_on_step_id, "PlanStep")
        )
        return from_row(PlanStep, row)

    @strawberry.mutation(description="Cancel, fail or complete a plan by hand.")
    async def set_plan_status(self, info: Ctx, plan_id: strawberry.ID, status: PlanStatus) -> Plan:
        row = await plans.set_plan_status(info.context, parse_id(plan_id, "Plan"), status)
        return from_row(Plan, row)
