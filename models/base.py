"""Column helpers shared by every table: UUID keys, UTC timestamps, JSON, enums."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# Named constraints let Alembic alter them later, SQLite batch mode included.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def uuid_pk() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def json_field(name: str | None = None, *, default: Any = dict) -> Any:
    """A non-null JSON column; `name` lets an attribute map to a reserved word (metadata)."""
    column = (
        sa.Column(name, JSON_TYPE, nullable=False) if name else sa.Column(JSON_TYPE, nullable=False)
    )
    return Field(default_factory=default, sa_column=column)


def optional_json_field() -> Any:
    return Field(default=None, sa_column=sa.Column(JSON_TYPE, nullable=True))


def enum_field(enum_cls: type[Enum], default: Enum, *, index: bool = False) -> Any:
    # Strings, not native ENUM types: PostgreSQL enums cannot be altered by Alembic.
    return Field(
        default=default,
        sa_type=sa.Enum(enum_cls, native_enum=False, length=32, create_constraint=False),
        index=index,
    )


OnDelete = Literal["CASCADE", "SET NULL", "RESTRICT"]


def fk(
    target: str, *, nullable: bool = False, ondelete: OnDelete = "CASCADE", index: bool = True
) -> Any:
    default: Any = None if nullable else ...
    return Field(
        default=default,
        foreign_key=target,
        ondelete=ondelete,
        nullable=nullable,
        index=index,
    )
