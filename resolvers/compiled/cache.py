"""The plans of one schema, cached: compiled once per (document, operation, variables
that shape it, principal, page sizes); a variable used only as `conversation(id:)` is a
parameter of the plan, not part of its key.

One ReadPlans belongs to one schema (build_schema gives its hook a fresh one), so a plan
is never looked up against a schema other than the one it was compiled for.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable

from graphql import DocumentNode

from resolvers.compiled.planner import Operation, ReadPlan
from resolvers.compiled.variables import id_variables
from resolvers.context import Context
from resolvers.principal import Principal

MAX_PLANS = 512


class ReadPlans:
    """Compiled plans (None: the normal path's), least recently used dropped first."""

    def __init__(self, size: int = MAX_PLANS) -> None:
        self.size = size
        self.found: OrderedDict[Hashable, ReadPlan | None] = OrderedDict()
        self.id_variables: OrderedDict[str, frozenset[str]] = OrderedDict()

    def get(self, key: Hashable, compile: Callable[[], ReadPlan | None]) -> ReadPlan | None:
        if key in self.found:
            self.found.move_to_end(key)
            return self.found[key]
        plan = self.found[key] = compile()
        if len(self.found) > self.size:
            self.found.popitem(last=False)
        return plan

    def variables(self, query: str, document: DocumentNode) -> frozenset[str]:
        """The variables of `query` that are parameters of its plan (variables.id_variables)."""
        found = self.id_variables.get(query)
        if found is None:
            found = self.id_variables[query] = id_variables(document)
            if len(self.id_variables) > self.size:
                self.id_variables.popitem(last=False)
        return found


def principal_key(principal: Principal) -> Hashable:
    # What resolvers.access.visible reads of a principal.
    if principal.unrestricted:
        return True
    return (principal.user_id, principal.identities)


def plan_key(operation: Operation, ids: frozenset[str], ctx: Context) -> Hashable | None:
    """What the plan of `operation` is cached under; None when its variables cannot be
    keyed (the normal path runs it)."""
    raw = operation.variables or {}
    try:
        shaping = json.dumps({k: v for k, v in raw.items() if k not in ids}, sort_keys=True)
    except (TypeError, ValueError):
        return None
    settings = ctx.settings
    return (
        operation.query,
        operation.name,
        shaping,
        principal_key(ctx.principal),
        settings.default_page_size,
        settings.max_page_size,
    )
