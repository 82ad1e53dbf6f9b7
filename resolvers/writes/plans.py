"""Plans, their steps, step dependencies and step status changes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Plan, PlanStep, StepDependency
from models.base import utcnow
from models.enums import EventKind, PlanStatus, StepStatus
from resolvers import events, validation
from resolvers.context import Context
from resolvers.errors import BadInput, Conflict
from resolvers.writes.commands import CreatePlan, UpdateStepStatus
from resolvers.writes.conversations import open_conversation
from resolvers.writes.transaction import existing_client_row, get_or_404, message_in, transaction

DONE = frozenset({StepStatus.COMPLETED, StepStatus.SKIPPED})
# Which status a step may move to from each status. FAILED -> RUNNING is a retry.
STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    StepStatus.PENDING: frozenset({StepStatus.RUNNING, StepStatus.SKIPPED}),
    StepStatus.RUNNING: frozenset({StepStatus.COMPLETED, StepStatus.FAILED}),
    StepStatus.FAILED: frozenset({StepStatus.RUNNING, StepStatus.SKIPPED}),
    StepStatus.COMPLETED: frozenset(),
    StepStatus.SKIPPED: frozenset(),
}
FINAL_PLAN = frozenset({PlanStatus.COMPLETED, PlanStatus.FAILED, PlanStatus.CANCELLED})


def find_cycle(edges: dict[int, set[int]]) -> list[int] | None:
    """A dependency cycle among steps (as positions), or None. Depth-first, iterative."""
    state: dict[int, int] = {}  # 1 = on the current path, 2 = finished
    for start in edges:
        if start in state:
            continue
        path: list[int] = [start]
        iterators = [iter(sorted(edges.get(start, ())))]
        state[start] = 1
        while iterators:
            nxt = next(iterators[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iterators.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                iterators.append(iter(sorted(edges.get(nxt, ()))))
    return None


def _check_steps(data: CreatePlan) -> dict[int, set[int]]:
    if not data.steps:
        raise BadInput("a plan needs at least one step")
    edges: dict[int, set[int]] = {}
    for position, step in enumerate(data.steps):
        validation.not_blank(f"steps[{position}].description", step.description)
        for dependency in step.depends_on:
            if not 0 <= dependency < len(data.steps):
                raise BadInput(
                    f"steps[{position}] depends on step {dependency}, which does not exist"
                )
            if dependency == position:
                raise BadInput(f"steps[{position}] cannot depend on itself")
        edges[position] = set(step.depends_on)
    cycle = find_cycle(edges)
    if cycle:
        raise BadInput(f"step dependencies form a cycle: {' -> '.join(map(str, cycle))}")
    return edges


async def create_plan(ctx: Context, data: CreatePlan) -> Plan:
    validation.not_blank("title", data.title)
    validation.json_object("context", data.context)
    validation.non_negative(maxRetries=data.max_retries)
    validation.positive("timeoutSeconds", data.timeout_seconds)
    if data.status not in {PlanStatus.DRAFT, PlanStatus.RUNNING}:
        raise BadInput("a new plan is DRAFT or RUNNING")
    edges = _check_steps(data)
    conversation_id, message_id = data.conversation_id, data.message_id
    async with transaction(ctx) as session:
        found = await existing_client_row(session, Plan, data.id, conversation_id=conversation_id)
        if found is not None:
            return found
        await open_conversation(session, conversation_id)
        if message_id is not None:
            await message_in(session, message_id, conversation_id, "the plan's message")
        plan = Plan(
            id=data.id or uuid.uuid4(),
            conversation_id=conversation_id,
            message_id=message_id,
            title=data.title,
            description=data.description,
            status=data.status,
            context=data.context,
            max_retries=data.max_retries,
            timeout_seconds=data.timeout_seconds,
        )
        steps = [
            PlanStep(plan_id=plan.id, position=i, description=s.description)
            for i, s in enumerate(data.steps)
        ]
        session.add(plan)
        session.add_all(steps)
        await session.flush()
        session.add_all(
            StepDependency(step_id=steps[i].id, depends_on_step_id=steps[d].id)
            for i, deps in edges.items()
            for d in sorted(deps)
        )
        await events.record(session, conversation_id, EventKind.PLAN_UPDATED, plan_id=plan.id)
    return plan


async def _plan_steps(session: AsyncSession, plan_id: uuid.UUID) -> list[PlanStep]:
    result = await session.exec(
        select(PlanStep)
        .where(col(PlanStep.plan_id) == plan_id)
        .order_by(col(PlanStep.position))
        .execution_options(populate_existing=True)
    )
    return list(result.all())


async def _lock_plan(session: AsyncSession, plan_id: uuid.UUID) -> Plan:
    """The plan, locked (and its conversation, which must be open): writers of one
    plan take turns, so step checks and the plan's roll-up see every other write."""
    plan = await get_or_404(session, Plan, plan_id, lock=True)
    await open_conversation(session, plan.conversation_id)
    return plan


async def _lock_step(session: AsyncSession, step_id: uuid.UUID) -> tuple[PlanStep, Plan]:
    step = await get_or_404(session, PlanStep, step_id)
    plan = await _lock_plan(session, step.plan_id)
    # Read again now that the plan is ours: another writer may have moved it.
    return await get_or_404(session, PlanStep, step_id, lock=True), plan


async def _dependency_edges(
    session: AsyncSession, step_ids: Iterable[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    rows = await session.exec(
        select(col(StepDependency.step_id), col(StepDependency.depends_on_step_id)).where(
            col(StepDependency.step_id).in_(list(step_ids))
        )
    )
    return [(row[0], row[1]) for row in rows]


async def update_step_status(ctx: Context, data: UpdateStepStatus) -> PlanStep:
    async with transaction(ctx) as session:
        step, plan = await _lock_step(session, data.step_id)
        if plan.status in FINAL_PLAN:
            raise Conflict(f"the plan is {plan.status}; its steps cannot change")
        if data.status not in STEP_TRANSITIONS[step.status]:
            raise Conflict(f"a {step.status} step cannot become {data.status}")
        steps = await _plan_steps(session, plan.id)
        by_id = {s.id: s for s in steps}
        if data.status in {StepStatus.RUNNING, StepStatus.COMPLETED}:
            edges = await _dependency_edges(session, [step.id])
            waiting = [by_id[d] for _, d in edges if by_id[d].status != StepStatus.COMPLETED]
            if waiting:
                names = ", ".join(f"step {w.position} ({w.status})" for w in waiting)
                raise BadInput(f"step {step.position} cannot start before {names} is COMPLETED")
        plan_status = plan.status
        _apply(step, plan, data)
        _roll_up(plan, steps)
        await events.record(
            session,
            plan.conversation_id,
            EventKind.STEP_STATUS,
            {"status": step.status.value},
            plan_id=plan.id,
            plan_step_id=step.id,
        )
        if plan.status != plan_status:
            await events.record(
                session, plan.conversation_id, EventKind.PLAN_UPDATED, plan_id=plan.id
            )
    return step


def _apply(step: PlanStep, plan: Plan, data: UpdateStepStatus) -> None:
    now = utcnow()
    if data.status == StepStatus.RUNNING:
        if step.status == StepStatus.FAILED:
            if step.retries >= plan.max_retries:
                raise Conflict(f"step {step.position} already used its {plan.max_retries} retries")
            step.retries += 1
        step.started_at, step.completed_at, step.error = now, None, None
        plan.current_step_index = step.position
    else:
        step.completed_at = now
    step.status = data.status
    if data.result is not None:
        step.result = data.result
    if data.error is not None:
        step.error = data.error


def _roll_up(plan: Plan, steps: list[PlanStep]) -> None:
    """The plan follows its steps: RUNNING once one starts, COMPLETED when all are done."""
    now = utcnow()
    if all(s.status in DONE for s in steps):
        plan.status, plan.completed_at = PlanStatus.COMPLETED, now
        plan.current_step_index = None
    elif any(s.status == StepStatus.RUNNING for s in steps):
        plan.status = PlanStatus.RUNNING
    plan.updated_at = now


async def add_step_dependency(
    ctx: Context, step_id: uuid.UUID, depends_on_id: uuid.UUID
) -> PlanStep:
    if step_id == depends_on_id:
        raise BadInput("a step cannot depend on itself")
    async with transaction(ctx) as session:
        step, plan = await _lock_step(session, step_id)
        other = await get_or_404(session, PlanStep, depends_on_id)
        if other.plan_id != step.plan_id:
            raise BadInput("both steps must belong to the same plan")
        if plan.status in FINAL_PLAN:
            raise Conflict(f"the plan is {plan.status}; its steps cannot change")
        if step.status != StepStatus.PENDING:
            raise Conflict(
                f"step {step.position} is {step.status}; only PENDING steps gain dependencies"
            )
        steps = await _plan_steps(session, step.plan_id)
        position = {s.id: s.position for s in steps}
        edges: dict[int, set[int]] = {s.position: set() for s in steps}
        for source, target in await _dependency_edges(session, position):
            edges[position[source]].add(position[target])
        if position[other.id] in edges[step.position]:
            return step
        edges[step.position].add(other.position)
        cycle = find_cycle(edges)
        if cycle:
            raise BadInput(f"this dependency would form a cycle: {' -> '.join(map(str, cycle))}")
        session.add(StepDependency(step_id=step.id, depends_on_step_id=other.id))
        await session.flush()
        await events.record(session, plan.conversation_id, EventKind.PLAN_UPDATED, plan_id=plan.id)
    return step


async def set_plan_status(ctx: Context, plan_id: uuid.UUID, status: PlanStatus) -> Plan:
    async with transaction(ctx) as session:
        plan = await _lock_plan(session, plan_id)
        if plan.status in FINAL_PLAN:
            raise Conflict(f"the plan is already {plan.status}")
        if status == PlanStatus.DRAFT:
            raise BadInput("a plan cannot go back to DRAFT")
        plan.status, plan.updated_at = status, utcnow()
        # Final statuses are never left (above), so this is set once.
        if status in FINAL_PLAN:
            plan.completed_at = plan.updated_at
        await events.record(session, plan.conversation_id, EventKind.PLAN_UPDATED, plan_id=plan.id)
    return plan
