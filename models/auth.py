"""API keys: how agents and ingestion clients authenticate (users bring JWTs)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import json_field, utcnow, uuid_pk


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = uuid_pk()
    # The user who created the key; the key acts on their behalf, within its scopes.
    owner_id: str = Field(index=True)
    name: str
    # The participant id the key speaks as in conversations (an agent), if any.
    agent_id: str | None = None
    # What the key is shown as once its secret is gone ("tl_AbCd1234").
    prefix: str
    # SHA-256 of the secret: the secret has 256 random bits, so no slow hash is needed,
    # and a lookup by hash is one index probe.
    secret_hash: str = Field(unique=True)
    scopes: list[str] = json_field(default=list)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
