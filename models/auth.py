"""Agents and API keys: who programs speak as, and how they authenticate (users bring JWTs)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import json_field, utcnow, uuid_pk


class Agent(SQLModel, table=True):
    """An agent identity, registered once by the user who owns it: only that user's keys
    may speak as it, so nobody else can claim its conversations."""

    __tablename__ = "agents"

    # The id the agent has as a participant, unique across the installation.
    id: str = Field(primary_key=True)
    owner_id: str = Field(index=True)
    name: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = uuid_pk()
    # The user who created the key; the key acts on their behalf, within its scopes.
    owner_id: str = Field(index=True)
    name: str
    # The agent (models.Agent, owned by `owner_id`) the key speaks as, if any.
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
