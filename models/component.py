"""Components (prompts, tools, model configs, agents) and their content-addressed versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_field, fk, json_field, utcnow, uuid_pk
from models.enums import ComponentType


class Component(SQLModel, table=True):
    __tablename__ = "components"

    id: uuid.UUID = uuid_pk()
    # The stable, client-chosen identity of the component ("summarize-prompt").
    key: str = Field(unique=True)
    type: ComponentType = enum_field(ComponentType, ComponentType.OTHER)
    name: str
    # The user who registered it: only they add versions. None for components made
    # before owners were recorded, which nobody but development mode may extend.
    owner_id: str | None = Field(default=None, index=True)
    # A private component (and its versions) is seen by its owner alone.
    private: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = Field(default_factory=utcnow)
    version_count: int = 0


class ComponentVersion(SQLModel, table=True):
    __tablename__ = "component_versions"
    __table_args__ = (
        sa.UniqueConstraint("component_id", "content_hash"),
        sa.UniqueConstraint("component_id", "version_number"),
    )

    id: uuid.UUID = uuid_pk()
    component_id: uuid.UUID = fk("components.id", index=False)
    # SHA-256 of the canonical JSON of `definition`: the version's content address.
    content_hash: str = Field(max_length=64, index=True)
    version_number: int
    definition: dict[str, Any] = json_field()
    created_at: datetime = Field(default_factory=utcnow)
