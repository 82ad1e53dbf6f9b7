"""ChatSettings type."""

from __future__ import annotations

from datetime import datetime

import strawberry


@strawberry.type(description="A user's chat settings; defaults when the user never saved any.")
class ChatSettings:
    user_id: str
    enabled_tools: list[str]
    enabled_agents: list[str]
    model: str | None
    temperature: float | None
    max_tokens: int | None
    updated_at: datetime | None = strawberry.field(description="Null until the user saves.")
