"""The mutations that add, change and delete scores."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.writes import scores as score_writes
from schema.node import from_row
from schema.score import Score
from schema.score_inputs import AddScoreInput, UpdateScoreInput


@strawberry.type
class ScoreMutations:
    @strawberry.mutation(description="Score a message, span, trace or conversation.")
    async def add_score(self, info: Info[Context, None], input: AddScoreInput) -> Score:
        return from_row(Score, await score_writes.add_score(info.context, input.to_command()))

    @strawberry.mutation(description="Change a score's value, label or comment.")
    async def update_score(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateScoreInput
    ) -> Score:
        row = await score_writes.update_score(
            info.context, parse_id(id, "Score"), input.to_command()
        )
        return from_row(Score, row)

    @strawberry.mutation(description="Delete a score; returns it as it was.")
    async def delete_score(self, info: Info[Context, None], id: strawberry.ID) -> Score:
        return from_row(Score, await score_writes.delete_score(info.context, parse_id(id, "Score")))
