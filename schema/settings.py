"""ChatSettings type."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import strawberry

from resolvers.writes import chat_settings

DEFAULTED = (
    "Your choice, else the default, {}: a setting you never chose (or reset with null) "
    "follows the default, also when the default changes."
)


@strawberry.type(description="A user's chat settings; defaults when the user never saved any.")
class ChatSettings:
    user_id: str
    enabled_tools: list[str]
    enabled_agents: list[str]
    model: str | None
    temperature: float = strawberry.field(
        description=DEFAULTED.format(chat_settings.DEFAULT_TEMPERATURE)
    )
    max_tokens: int = strawberry.field(
        description=DEFAULTED.format(chat_settings.DEFAULT_MAX_TOKENS)
    )
    created_at: datetime | None = strawberry.field(
        description="When the user first saved; null until then."
    )
    updated_at: datetime | None = strawberry.field(
        description="When the user last saved; null until then."
    )

    @classmethod
    def of(cls, settings: chat_settings.Settings) -> ChatSettings:
        return cls(**dataclasses.asdict(settings))
