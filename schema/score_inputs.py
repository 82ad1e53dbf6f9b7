"""Inputs of the score mutations and of the score aggregates."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.enums import ParticipantType, ScoreKind, ScoreSource, ScoreTarget
from resolvers.ids import from_global_id
from resolvers.writes import commands as cmd
from schema.commands import to_command


@strawberry.input
class AddScoreInput:
    target_id: strawberry.ID = strawberry.field(
        description="A Message, Span, Trace or Conversation id."
    )
    name: str
    kind: ScoreKind
    value: float | None = strawberry.field(
        default=None, description="NUMERIC: any finite number; BOOLEAN: 1 (true) or 0 (false)."
    )
    label: str | None = strawberry.field(default=None, description="CATEGORICAL only.")
    comment: str | None = None
    source: ScoreSource = ScoreSource.HUMAN
    author: str | None = strawberry.field(
        default=None,
        description="Who scored: one of your own identities (you, your key's agent, an "
        "agent you own); by default you.",
    )
    author_type: ParticipantType = strawberry.field(
        default=ParticipantType.USER, description="Whether `author` is a user or an agent."
    )

    def to_command(self) -> cmd.AddScore:
        target_type, target_id = from_global_id(self.target_id)
        return to_command(self, cmd.AddScore, target_type=target_type, target_id=target_id)


@strawberry.input(description="Fields left out are not changed; null clears `comment`.")
class UpdateScoreInput:
    value: float | None = strawberry.UNSET
    label: str | None = strawberry.UNSET
    comment: str | None = strawberry.UNSET

    def to_command(self) -> cmd.UpdateScore:
        return to_command(self, cmd.UpdateScore)


@strawberry.input
class ScoreFilter:
    names: list[str] | None = None
    targets: list[ScoreTarget] | None = None
    sources: list[ScoreSource] | None = None
    conversation_id: strawberry.ID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
