"""Per-user chat settings: upserted field by field; null resets a field to its default.

A row holds what its user chose. A temperature or token limit never chosen (or reset)
is stored as null and read as the default, so the defaults apply to everyone who did
not choose, a changed default included; the read, not the row, knows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import ChatSettings
from models.base import utcnow
from resolvers import validation
from resolvers.context import Context
from resolvers.writes.commands import ChangeChatSettings, given
from resolvers.writes.transaction import insert_ignoring_duplicates, transaction

DEFAULT_TEMPERATURE = 0.7
DEFAULT_MAX_TOKENS = 2000
MAX_TOKENS_RANGE = (1, 32000)
LISTS = ("enabled_tools", "enabled_agents")


@dataclass(frozen=True)
class Settings:
    """A user's settings as they apply: their choices, the defaults for the rest."""

    user_id: str
    enabled_tools: list[str]
    enabled_agents: list[str]
    model: str | None
    temperature: float
    max_tokens: int
    # None until the user first saves.
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, user_id: str, row: ChatSettings | None) -> Settings:
        if row is None:
            return cls(user_id, [], [], None, DEFAULT_TEMPERATURE, DEFAULT_MAX_TOKENS, None, None)
        return cls(
            user_id=row.user_id,
            enabled_tools=row.enabled_tools,
            enabled_agents=row.enabled_agents,
            model=row.model,
            temperature=DEFAULT_TEMPERATURE if row.temperature is None else row.temperature,
            max_tokens=DEFAULT_MAX_TOKENS if row.max_tokens is None else row.max_tokens,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


async def read(ctx: Context, user_id: str) -> Settings:
    """The user's settings; the defaults when they never saved any."""
    ctx.principal.require_self(user_id, "chat settings")
    async with ctx.session_factory() as session:
        return Settings.of(user_id, await session.get(ChatSettings, user_id))


async def upsert(ctx: Context, user_id: str, data: ChangeChatSettings) -> Settings:
    validation.not_blank("userId", user_id)
    ctx.principal.require_self(user_id, "chat settings")
    changes = given(data)
    for name in LISTS:
        if name in changes:
            # null empties a list, its default.
            changes[name] = list(dict.fromkeys(changes[name] or []))
            validation.string_list(name, changes[name])
    validation.temperature(changes.get("temperature"))
    validation.in_range("maxTokens", changes.get("max_tokens"), *MAX_TOKENS_RANGE)
    now = utcnow()
    async with transaction(ctx) as session:
        # Insert-if-missing, then lock: concurrent first saves of one user queue, not fail.
        await session.exec(
            insert_ignoring_duplicates(
                session,
                ChatSettings,
                user_id=user_id,
                **{name: [] for name in LISTS},
                created_at=now,
                updated_at=now,
            )
        )
        settings = await session.get(
            ChatSettings, user_id, with_for_update=True, populate_existing=True
        )
        assert settings is not None
        for name, value in changes.items():
            setattr(settings, name, value)
        settings.updated_at = now
    return Settings.of(user_id, settings)
