"""Column helpers shared by every table: UUID keys, UTC timestamps, JSON, enums."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.enums import CostSource

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


# None as SQL NULL, not as the JSON value null: NULL costs a row nothing.
SPARSE_JSON_TYPE = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def optional_json_field(*, sparse: bool = False) -> Any:
    """A nullable JSON column; `sparse` for one that most rows leave empty (None is
    then written as SQL NULL: no bytes per row, and `IS NULL` finds it)."""
    column_type = SPARSE_JSON_TYPE if sparse else JSON_TYPE
    return Field(default=None, sa_column=sa.Column(column_type, nullable=True))


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


# Money is USD held as a whole number of nano-dollars: sums are exact on every database
# (SQLite has no exact decimal type) and a price per million tokens with up to three
# decimals gives every single token an exact cost.
NANOS_PER_USD = 10**9
NANO = Decimal(1).scaleb(-9)


def to_nanos(usd: Decimal | float | int) -> int:
    """USD as nano-dollars, rounded half-even; a float is read as the decimal it prints as."""
    amount = usd if isinstance(usd, Decimal) else Decimal(repr(usd))
    return int((amount * NANOS_PER_USD).to_integral_value(ROUND_HALF_EVEN))


def from_nanos(nanos: int) -> Decimal:
    return Decimal(nanos).scaleb(-9)


class Money(sa.types.TypeDecorator[Decimal]):
    """USD in Python (a Decimal), nano-dollars in the database (a BIGINT)."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | float | int | None, dialect: Any) -> int | None:
        return None if value is None else to_nanos(value)

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        # A SUM over BIGINT is NUMERIC on PostgreSQL: still a whole number of nanos.
        return None if value is None else from_nanos(int(value))

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


# Token totals of conversations and traces pass 2^31 - 1. SQLite's INTEGER is 64-bit
# already: the variant keeps its tables as they were.
BIG_INTEGER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def total_field() -> Any:
    """A running total (tokens), in 64 bits."""
    return Field(default=0, sa_type=BIG_INTEGER)


def money_field(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=Money, nullable=True)
    return Field(default=Decimal(0), sa_type=Money)


def cost_source_field() -> Any:
    return Field(
        default=CostSource.NONE,
        sa_type=sa.Enum(CostSource, native_enum=False, length=32, create_constraint=False),
        sa_column_kwargs={"server_default": CostSource.NONE.value},
    )
