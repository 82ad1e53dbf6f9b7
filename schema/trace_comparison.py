"""`Trace.compare(other:)`: two runs side by side (resolvers/trace_comparison.py)."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers import json_diff
from resolvers import trace_comparison as comparison
from schema.node import from_row, from_rows
from schema.scalars import JSONValue, Long

if TYPE_CHECKING:
    from schema.component import Component, ComponentVersion
    from schema.trace import Trace

TraceT = Annotated["Trace", strawberry.lazy("schema.trace")]
ComponentT = Annotated["Component", strawberry.lazy("schema.component")]
ComponentVersionT = Annotated["ComponentVersion", strawberry.lazy("schema.component")]

strawberry.enum(
    json_diff.Change,
    name="JsonChange",
    description="ADDED: only the right value has the key; REMOVED: only the left has it.",
)


@strawberry.enum(description="Which runs of a comparison used a component.")
class UsedBy(enum.Enum):
    LEFT_ONLY = "LEFT_ONLY"
    RIGHT_ONLY = "RIGHT_ONLY"
    BOTH = "BOTH"


@strawberry.type(description="Where two JSON values differ.")
class JsonDifference:
    path: str = strawberry.field(
        description="From the field compared (`systemConfig.model`); a key that is not a "
        'plain name is written in brackets, as a JSON string (`systemConfig["a.b"]`).'
    )
    change: json_diff.Change
    left: JSONValue | None = strawberry.field(description="Null when ADDED (or JSON null).")
    right: JSONValue | None = strawberry.field(description="Null when REMOVED (or JSON null).")

    @classmethod
    def of(cls, d: json_diff.Difference) -> JsonDifference:
        return cls(path=d.path, change=d.change, left=d.left, right=d.right)


@strawberry.type(description="A run's figures, or (as `delta`) the right's less the left's.")
class RunFigures:
    total_tokens: Long
    cost: float
    duration_ms: float | None = strawberry.field(description="Null while a run is running.")
    span_count: Long
    error_count: Long = strawberry.field(description="Spans with status ERROR.")

    @classmethod
    def of(cls, f: comparison.RunFigures) -> RunFigures:
        return cls(
            total_tokens=f.total_tokens,
            cost=float(f.cost),
            duration_ms=f.duration_ms,
            span_count=f.span_count,
            error_count=f.error_count,
        )


@strawberry.type(description="A component either run used, and the versions each used.")
class ComponentUse:
    use: strawberry.Private[comparison.ComponentUse]

    @strawberry.field
    def component(self) -> ComponentT:
        from schema.component import Component

        return from_row(Component, self.use.component)

    @strawberry.field(description="Versions the left run's spans used, oldest first.")
    def left_versions(self) -> list[ComponentVersionT]:
        from schema.component import ComponentVersion

        return from_rows(ComponentVersion, self.use.left)

    @strawberry.field(description="Versions the right run's spans used, oldest first.")
    def right_versions(self) -> list[ComponentVersionT]:
        from schema.component import ComponentVersion

        return from_rows(ComponentVersion, self.use.right)

    @strawberry.field
    def used_by(self) -> UsedBy:
        if not self.use.right:
            return UsedBy.LEFT_ONLY
        return UsedBy.BOTH if self.use.left else UsedBy.RIGHT_ONLY

    @strawberry.field(description="Both runs used the component, not at the same versions.")
    def version_changed(self) -> bool:
        left, right = self.use.left, self.use.right
        return bool(left and right) and {v.id for v in left} != {v.id for v in right}


@strawberry.type(
    description="Two runs side by side: what they started from, the component versions "
    "they used, and their figures. Only component versions you can see are listed."
)
class TraceComparison:
    found: strawberry.Private[comparison.TraceComparison]

    @strawberry.field
    def left(self) -> TraceT:
        from schema.trace import Trace

        return from_row(Trace, self.found.left)

    @strawberry.field
    def right(self) -> TraceT:
        from schema.trace import Trace

        return from_row(Trace, self.found.right)

    @strawberry.field(
        description="Where initialMemoryState, initialConversationState and systemConfig "
        "differ, key by key in key order (arrays compared whole), in that order."
    )
    def state_differences(self) -> list[JsonDifference]:
        return [JsonDifference.of(d) for d in self.found.state.found]

    @strawberry.field(
        description=f"More than {json_diff.MAX_DIFFERENCES} differences: the list stops "
        f"there. Objects nested more than {json_diff.MAX_DEPTH} levels are compared whole."
    )
    def state_differences_truncated(self) -> bool:
        return self.found.state.truncated

    @strawberry.field(description="By component key.")
    def components(self) -> list[ComponentUse]:
        return [ComponentUse(use=u) for u in self.found.components]

    @strawberry.field
    def left_figures(self) -> RunFigures:
        return RunFigures.of(self.found.left_figures)

    @strawberry.field
    def right_figures(self) -> RunFigures:
        return RunFigures.of(self.found.right_figures)

    @strawberry.field(description="The right run's figures less the left's.")
    def delta(self) -> RunFigures:
        found = self.found
        return RunFigures.of(found.right_figures.minus(found.left_figures))
