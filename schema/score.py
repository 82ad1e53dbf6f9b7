"""Scores: the Score type, its aggregates, and the root field that reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

import models
from models.enums import ScoreKind, ScoreSource, ScoreTarget
from resolvers import scores
from resolvers.context import Context
from resolvers.ids import parse_id, to_global_id
from resolvers.pagination import Relation
from schema.node import Node, from_rows, related
from schema.scalars import Long
from schema.score_inputs import ScoreFilter

if TYPE_CHECKING:
    from schema.component import ComponentVersion
    from schema.conversation import Conversation

ComponentVersionT = Annotated["ComponentVersion", strawberry.lazy("schema.component")]
ConversationT = Annotated["Conversation", strawberry.lazy("schema.conversation")]


@strawberry.type
class Score(Node):
    id: strawberry.ID
    target: ScoreTarget = strawberry.field(description="What kind of object is scored.")
    name: str
    kind: ScoreKind
    value: float | None
    label: str | None
    comment: str | None
    source: ScoreSource
    author_id: str
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.Score]

    @strawberry.field(description="The global id of the scored object (use `node`).")
    def target_id(self) -> strawberry.ID:
        type_name, attribute = scores.TARGET_KEYS[self.row.target]
        return strawberry.ID(to_global_id(type_name, getattr(self.row, attribute)))

    @strawberry.field(description="The conversation the scored object belongs to.")
    async def conversation(self, info: Info[Context, None]) -> ConversationT | None:
        from schema.conversation import Conversation

        return await related(info, Conversation, self.row.conversation_id)


def scores_field(relation: Relation, what: str) -> Any:
    """The `scores` field of a scored type: its scores, batched with its siblings'."""

    async def resolve(root: Any, info: Info[Context, None]) -> list[Score]:
        rows = await info.context.loaders.rows_by(relation).load(root.row.id)
        return from_rows(Score, rows)

    return strawberry.field(resolver=resolve, description=f"Scores of this {what}, oldest first.")


@strawberry.type
class LabelCount:
    label: str
    count: Long


@strawberry.type(description="Scores of one name (and one component version), aggregated.")
class ScoreSummary:
    name: str
    count: Long
    value_count: Long = strawberry.field(description="Scores with a value (NUMERIC, BOOLEAN).")
    average: float | None = strawberry.field(
        description="Mean value; for BOOLEAN scores, the share that are true."
    )
    min: float | None
    max: float | None
    labels: list[LabelCount] = strawberry.field(description="CATEGORICAL labels, by label.")
    version_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="Set when grouped by component version.")
    async def component_version(self, info: Info[Context, None]) -> ComponentVersionT | None:
        from schema.component import ComponentVersion

        return await related(info, ComponentVersion, self.version_id)

    @classmethod
    def of(cls, s: scores.ScoreSummary) -> ScoreSummary:
        return cls(
            name=s.name,
            count=s.count,
            value_count=s.value_count,
            average=s.average,
            min=s.minimum,
            max=s.maximum,
            labels=[LabelCount(label=label, count=count) for label, count in s.labels],
            version_id=s.component_version_id,
        )


def score_query(filter: ScoreFilter | None) -> scores.ScoreQuery:
    f = filter or ScoreFilter()
    return scores.ScoreQuery(
        names=f.names,
        targets=f.targets,
        sources=f.sources,
        conversation_id=parse_id(f.conversation_id, "Conversation") if f.conversation_id else None,
        created_after=f.created_after,
        created_before=f.created_before,
    )


@strawberry.type
class ScoreQueries:
    @strawberry.field(
        description="Scores aggregated by name, or by name and component version (the "
        "versions the scored object's spans used). Only scores you can see count."
    )
    async def score_summary(
        self,
        info: Info[Context, None],
        filter: ScoreFilter | None = None,
        by_component_version: bool = False,
    ) -> list[ScoreSummary]:
        found = await scores.score_summaries(
            info.context, score_query(filter), by_component_version
        )
        return [ScoreSummary.of(s) for s in found]
