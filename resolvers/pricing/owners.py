"""An owner's own prices: read, set and delete, each user for themselves (development
mode for anybody). They price the conversations the owner owns from the next write on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import ModelPrice
from models.base import utcnow
from resolvers import validation
from resolvers.context import Context
from resolvers.errors import BadInput, NotFound
from resolvers.pricing.prices import PriceTable, installed, owner_entry
from resolvers.pricing.table import PriceEntry, name, price
from resolvers.writes.transaction import insert_ignoring_duplicates, transaction

WHAT = "model prices"


@dataclass(frozen=True, kw_only=True)
class SetModelPrice:
    """USD per million tokens; no cached-input price: cached input costs what input costs."""

    model: str
    provider: str | None = None
    input_per_million: Decimal
    output_per_million: Decimal
    cached_input_per_million: Decimal | None = None


async def prices_in_effect(ctx: Context, owner_id: str) -> PriceTable:
    """The built-in table, under the operator's file, under the owner's prices."""
    _check_owner(ctx, owner_id)
    async with ctx.session_factory() as session:
        rows = await session.exec(select(ModelPrice).where(col(ModelPrice.owner_id) == owner_id))
        return installed(ctx.settings.prices).over(owner_entry(row) for row in rows)


async def set_model_price(ctx: Context, owner_id: str, data: SetModelPrice) -> PriceEntry:
    _check_owner(ctx, owner_id)
    values = _checked(data)
    now = utcnow()
    async with transaction(ctx) as session:
        # Insert-if-missing, then lock: concurrent first prices of one model queue, not fail.
        await session.exec(
            insert_ignoring_duplicates(
                session,
                ModelPrice,
                id=uuid.uuid4(),
                owner_id=owner_id,
                created_at=now,
                updated_at=now,
                **values,
            )
        )
        row = await _locked(session, owner_id, values["model"])
        assert row is not None
        for field, value in values.items():
            setattr(row, field, value)
        row.updated_at = now
    return owner_entry(row)


async def delete_model_price(ctx: Context, owner_id: str, model: str) -> PriceEntry:
    """The owner's price of `model` goes; the file's or built-in one, if any, applies again."""
    _check_owner(ctx, owner_id)
    try:
        name_of = name("`model`", model)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    async with transaction(ctx) as session:
        row = await _locked(session, owner_id, name_of)
        if row is None:
            raise NotFound(f"you set no price for the model '{model}'")
        await session.delete(row)
    return owner_entry(row)


def _check_owner(ctx: Context, owner_id: str) -> None:
    ctx.principal.require_self(owner_id, WHAT)
    validation.not_blank("userId", owner_id)


def _checked(data: SetModelPrice) -> dict[str, Any]:
    cached = data.cached_input_per_million
    try:
        return {
            "model": name("`model`", data.model),
            "provider": None if data.provider is None else name("`provider`", data.provider),
            "input_per_million": price("`inputPerMillion`", data.input_per_million),
            "output_per_million": price("`outputPerMillion`", data.output_per_million),
            "cached_input_per_million": (
                None if cached is None else price("`cachedInputPerMillion`", cached)
            ),
        }
    except ValueError as exc:
        raise BadInput(str(exc)) from None


async def _locked(session: AsyncSession, owner_id: str, model: str) -> ModelPrice | None:
    found = await session.exec(
        select(ModelPrice)
        .where(col(ModelPrice.owner_id) == owner_id, col(ModelPrice.model) == model)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found.first()
