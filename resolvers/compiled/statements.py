"""Answering an operation by its plan: one statement on PostgreSQL, its JSON parsed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson

from resolvers.compiled.binding import SchemaBinding
from resolvers.compiled.cache import ReadPlans, plan_key
from resolvers.compiled.driver import fetch_value
from resolvers.compiled.planner import Operation, ReadPlan, compile_plan
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.ids import parse_id


async def compiled_data(
    plans: ReadPlans, binding: SchemaBinding, operation: Operation, ctx: Context
) -> dict[str, Any] | None:
    """The operation's `data` by the compiled path, or None where it does not apply."""
    if ctx.database.engine.dialect.name != "postgresql":
        return None
    ids = plans.variables(operation.query, operation.document)
    key = plan_key(operation, ids, ctx)
    if key is None:
        return None
    # Compiled only on a miss: a query the cache already knows needs no executor.
    plan = plans.get(key, lambda: compile_plan(binding, operation, ctx, ids))
    if plan is None:
        return None
    parameters = _parameters(plan, operation.variables or {})
    if parameters is None:
        return None
    # One statement on a pooled connection's driver. Its errors are the hook's
    # (schema/compiled_reads.py) to judge: the normal path runs after them.
    arguments = plan.statement.arguments(parameters)
    text = await fetch_value(ctx.database.reads, plan.statement, arguments)
    if text is None:
        return None
    # orjson reads what the statement writes itself (64-bit integers, shortest doubles,
    # PostgreSQL's strings) as json does, in a third of the time; a JSON column copied as
    # stored may hold integers past 64 bits, which orjson would read as floats.
    data: dict[str, Any] = json.loads(text) if plan.raw_json else orjson.loads(text)
    return data


def _parameters(plan: ReadPlan, variables: dict[str, Any]) -> dict[str, uuid.UUID] | None:
    """The plan's conversation ids from the variables, or None where one is not an id
    the normal path would accept."""
    parameters: dict[str, uuid.UUID] = {}
    for bind, variable in plan.ids:
        # An ID variable as sent: a string (anything else takes the normal path).
        value = variables.get(variable)
        if not isinstance(value, str):
            return None
        try:
            parameters[bind] = parse_id(value, "Conversation")
        except BadInput:
            return None
    return parameters
