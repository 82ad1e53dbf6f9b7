"""Components (prompts, tools, model configs, agents) and their content-addressed versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import JSON_TYPE, enum_field, fk, json_field, utcnow, uuid_pk
from models.enums import ComponentType, ParticipantType

# A label names one version of its component; most versions have none, and the index
# holds only those that do. PostgreSQL prints this predicate back as written.
LABELLED = "version_name IS NOT NULL"


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
        sa.Index(
            "uq_component_versions_component_id_version_name",
            "component_id",
            "version_name",
            unique=True,
            postgresql_where=sa.text(LABELLED),
            sqlite_where=sa.text(LABELLED),
        ),
    )

    id: uuid.UUID = uuid_pk()
    component_id: uuid.UUID = fk("components.id", index=False)
    # SHA-256 of the canonical JSON of `definition`: the version's content address.
    content_hash: str = Field(max_length=64, index=True)
    version_number: int
    definition: dict[str, Any] = json_field()
    created_at: datetime = Field(default_factory=utcnow)
    # A label chosen by its registrant ("v3", "2026-12-rollout"), unique in its component.
    version_name: str | None = None
    description: str | None = Field(default=None, sa_type=sa.Text)
    tags: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(JSON_TYPE, nullable=False, server_default=sa.text("'[]'")),
    )
    # Who registered it: a user, or the agent of the user's API key. None for versions
    # registered before this was recorded whose component has no owner (migration 0029).
    created_by_id: str | None = None
    created_by_type: ParticipantType | None = Field(
        default=None,
        sa_type=sa.Enum(ParticipantType, native_enum=False, length=32, create_constraint=False),
    )
    # A deprecated version stays readable (spans keep pointing at it); `latestVersion`
    # passes over it unless asked not to.
    deprecated_at: datetime | None = None
    deprecation_reason: str | None = Field(default=None, sa_type=sa.Text)
