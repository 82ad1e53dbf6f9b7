"""The cost a write stores for a model call, and where that cost came from.

A cost the writer states (0 included) is REPORTED. Otherwise a call with a model and
tokens is PRICED by the entry its model matches, when it was written: later price
changes rewrite no history. Anything else costs 0, from NONE.

    cost = ((input - cached) * input price + cached * cached-input price
            + output * output price) / 1,000,000

exact in decimal, rounded half-even to the nano-dollar (models.base.Money).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import NANO
from models.enums import CostSource
from resolvers.pricing.prices import PriceTable, owners_prices, table
from resolvers.pricing.table import PriceEntry

K = TypeVar("K")
PER = Decimal(1_000_000)
# Enough digits that no product of tokens and a price is ever rounded before the nano.
PRECISION = 40


@dataclass(frozen=True)
class ModelCall:
    """What a write says about a model call: enough to price it."""

    model: str | None
    provider: str | None
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    # None: the writer stated no cost.
    stated_cost: Decimal | None

    @property
    def priceable(self) -> bool:
        tokens = self.input_tokens or self.output_tokens
        return self.stated_cost is None and bool(self.model) and bool(tokens)


@dataclass(frozen=True)
class Charge:
    cost: Decimal = Decimal(0)
    source: CostSource = CostSource.NONE
    price_id: str | None = None

    def columns(self) -> dict[str, Any]:
        """The row's columns that hold it."""
        return {"cost": self.cost, "cost_source": self.source, "price_id": self.price_id}


NO_CHARGE = Charge()


def cost_of(entry: PriceEntry, call: ModelCall) -> Decimal:
    # A provider that counts cached tokens apart from input ones cannot have more of them.
    cached = min(call.cached_input_tokens, call.input_tokens)
    cached_price = entry.cached_input_per_million
    if cached_price is None:
        cached_price = entry.input_per_million
    with localcontext(prec=PRECISION):
        amount = (
            (call.input_tokens - cached) * entry.input_per_million
            + cached * cached_price
            + call.output_tokens * entry.output_per_million
        ) / PER
        return amount.quantize(NANO, rounding=ROUND_HALF_EVEN)


def charge_with(prices: PriceTable, call: ModelCall) -> Charge:
    if call.stated_cost is not None:
        # Kept as it is stored (to the nano), so that what a write returns is what it wrote.
        stated = call.stated_cost.quantize(NANO, rounding=ROUND_HALF_EVEN)
        return Charge(stated, CostSource.REPORTED)
    entry = prices.find(call.model, call.provider) if call.priceable else None
    if entry is None:
        return NO_CHARGE
    return Charge(cost_of(entry, call), CostSource.PRICED, entry.id)


async def charges(
    session: AsyncSession, calls: Mapping[K, tuple[uuid.UUID, ModelCall]]
) -> dict[K, Charge]:
    """The charge of each call (keyed as given) made in a conversation: one query for the
    owners' prices, none when no call needs a price."""
    wanted = {conversation_id for conversation_id, call in calls.values() if call.priceable}
    models = [call.model for _, call in calls.values() if call.priceable and call.model]
    installation = table(session)
    tables = {
        conversation_id: installation.over(entries)
        for conversation_id, entries in (await owners_prices(session, wanted, models)).items()
    }
    return {
        key: charge_with(tables.get(conversation_id, installation), call)
        for key, (conversation_id, call) in calls.items()
    }


async def charge(session: AsyncSession, conversation_id: uuid.UUID, call: ModelCall) -> Charge:
    """The charge of one call made in the conversation."""
    return (await charges(session, {None: (conversation_id, call)}))[None]
