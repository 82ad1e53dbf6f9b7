"""Per-user chat settings: defaults until saved, then upserted field by field; null resets."""

from __future__ import annotations

from models import ChatSettings
from models.base import utcnow
from resolvers import validation
from resolvers.context import Context
from resolvers.writes.commands import ChangeChatSettings, given
from resolvers.writes.transaction import insert_ignoring_duplicates, transaction

MAX_TOKENS_RANGE = (1, 32000)
SETTINGS_FIELDS = ("enabled_tools", "enabled_agents", "model", "temperature", "max_tokens")


def defaults(user_id: str) -> ChatSettings:
    """What a user who never saved settings gets."""
    return ChatSettings(
        user_id=user_id,
        enabled_tools=[],
        enabled_agents=[],
        model=None,
        temperature=0.7,
        max_tokens=4096,
    )


async def read(ctx: Context, user_id: str) -> ChatSettings | None:
    """The saved settings, or None when the user never saved any."""
    ctx.principal.require_self(user_id, "chat settings")
    async with ctx.session_factory() as session:
        return await session.get(ChatSettings, user_id)


async def upsert(ctx: Context, user_id: str, data: ChangeChatSettings) -> ChatSettings:
    validation.not_blank("userId", user_id)
    ctx.principal.require_self(user_id, "chat settings")
    initial = defaults(user_id)
    # null resets a field to its default (for `model` that is no preferred model):
    # a null temperature or token limit has no meaning to store.
    changes = {
        name: getattr(initial, name) if value is None else value
        for name, value in given(data).items()
    }
    for name in ("enabled_tools", "enabled_agents"):
        if name in changes:
            changes[name] = list(dict.fromkeys(changes[name]))
            validation.string_list(name, changes[name])
    validation.temperature(changes.get("temperature"))
    validation.in_range("maxTokens", changes.get("max_tokens"), *MAX_TOKENS_RANGE)
    async with transaction(ctx) as session:
        # Insert-if-missing, then lock: concurrent first saves of one user queue, not fail.
        await session.exec(
            insert_ignoring_duplicates(
                session,
                ChatSettings,
                user_id=user_id,
                updated_at=utcnow(),
                **{name: getattr(initial, name) for name in SETTINGS_FIELDS},
            )
        )
        settings = await session.get(
            ChatSettings, user_id, with_for_update=True, populate_existing=True
        )
        assert settings is not None
        for name, value in changes.items():
            setattr(settings, name, value)
        settings.updated_at = utcnow()
    return settings
