"""Who is calling (`viewer`), their agents and their API keys."""

from __future__ import annotations

from datetime import datetime

import strawberry

import models
from models.base import utcnow
from models.enums import ApiKeyScope
from resolvers.ids import to_global_id
from resolvers.principal import Principal
from schema.node import Node


@strawberry.type(
    description="An agent identity: registered once, by the user who owns it; only that "
    "user's keys speak as it."
)
class Agent:
    agent_id: str
    name: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: models.Agent) -> Agent:
        return cls(agent_id=row.id, name=row.name, created_at=row.created_at)


@strawberry.type(description="A key for an agent or an ingestion client; its secret is not kept.")
class ApiKey(Node):
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The start of the key, to tell keys apart.")
    agent_id: str | None = strawberry.field(
        description="The participant id the key speaks as in conversations."
    )
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    row: strawberry.Private[models.ApiKey]

    @strawberry.field
    def scopes(self) -> list[ApiKeyScope]:
        return [ApiKeyScope(s) for s in self.row.scopes]

    @strawberry.field(description="Neither revoked nor expired.")
    def active(self) -> bool:
        expires = self.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=utcnow().tzinfo)
        return self.revoked_at is None and (expires is None or expires > utcnow())


@strawberry.type
class CreatedApiKey:
    api_key: ApiKey
    secret: str = strawberry.field(
        description="The key itself, shown this once: send it as `Authorization: Bearer <secret>`"
        " or `X-API-Key`."
    )


@strawberry.input
class CreateApiKeyInput:
    name: str
    scopes: list[ApiKeyScope]
    agent_id: str | None = strawberry.field(
        default=None,
        description="Speak as this agent of yours (registered for you now if nobody has "
        "it): the key sees the conversations it participates in, besides yours.",
    )
    expires_at: datetime | None = None


@strawberry.type(description="Who the request is authenticated as.")
class Viewer:
    user_id: str
    agent_id: str | None
    scopes: list[ApiKeyScope]
    api_key_id: strawberry.ID | None
    development: bool = strawberry.field(
        description="True in single-user development mode (no authentication configured)."
    )

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        key_id = principal.key_id
        return cls(
            user_id=principal.user_id,
            agent_id=principal.agent_id,
            scopes=sorted(principal.scopes),
            api_key_id=strawberry.ID(to_global_id("ApiKey", key_id)) if key_id else None,
            development=principal.unrestricted,
        )
