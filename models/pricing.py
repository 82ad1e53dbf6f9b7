"""Prices of model calls that an owner set for their own conversations (resolvers.pricing)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import money_field, utcnow, uuid_pk


class ModelPrice(SQLModel, table=True):
    """USD per million tokens for one model, in the conversations `owner_id` owns; ahead
    of the operator's price file and the built-in table."""

    __tablename__ = "model_prices"
    __table_args__ = (sa.UniqueConstraint("owner_id", "model"),)

    id: uuid.UUID = uuid_pk()
    owner_id: str = Field(index=True)
    model: str
    provider: str | None = None
    input_per_million: Decimal = money_field()
    output_per_million: Decimal = money_field()
    # None: cached input tokens cost what other input tokens cost.
    cached_input_per_million: Decimal | None = money_field(nullable=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
