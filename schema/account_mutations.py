"""The caller's own things: API keys, agent ids, chat settings."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.writes import agent_identities, api_keys, chat_settings
from schema.auth import Agent, ApiKey, CreateApiKeyInput, CreatedApiKey
from schema.inputs import ChatSettingsInput
from schema.node import from_row
from schema.settings import ChatSettings

Ctx = Info[Context, None]


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        description="A new API key for you (users only); its secret is in the answer, once."
    )
    async def create_api_key(self, info: Ctx, input: CreateApiKeyInput) -> CreatedApiKey:
        key, secret = await api_keys.create_api_key(
            info.context, input.name, input.scopes, input.agent_id, input.expires_at
        )
        return CreatedApiKey(api_key=from_row(ApiKey, key), secret=secret)

    @strawberry.mutation(
        description="Claim an agent id for yourself (unique across the installation), "
        "or rename one of yours."
    )
    async def register_agent(self, info: Ctx, agent_id: str, name: str | None = None) -> Agent:
        return Agent.of(await agent_identities.register_agent(info.context, agent_id, name))

    @strawberry.mutation(description="The key stops working at once, subscriptions included.")
    async def revoke_api_key(self, info: Ctx, id: strawberry.ID) -> ApiKey:
        return from_row(ApiKey, await api_keys.revoke_api_key(info.context, parse_id(id, "ApiKey")))

    @strawberry.mutation
    async def upsert_chat_settings(
        self, info: Ctx, input: ChatSettingsInput, user_id: str | None = None
    ) -> ChatSettings:
        user_id = info.context.principal.user_id if user_id is None else user_id
        saved = await chat_settings.upsert(info.context, user_id, input.to_command())
        return ChatSettings.of(saved)
