"""Per-user chat settings, and the installation's own secrets."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import json_field, utcnow


class ChatSettings(SQLModel, table=True):
    __tablename__ = "chat_settings"

    user_id: str = Field(primary_key=True)
    enabled_tools: list[str] = json_field(default=list)
    enabled_agents: list[str] = json_field(default=list)
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class InstallationSecret(SQLModel, table=True):
    """A random value made once per installation (the key of ingested ids, which must not
    be computable from a user's id and a session's name)."""

    __tablename__ = "installation_secrets"

    name: str = Field(primary_key=True)
    value: str
