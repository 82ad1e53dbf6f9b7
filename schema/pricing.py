"""Prices of model calls: the entries in effect (`modelPrices`, `modelPrice`) and an
owner's own (`setModelPrice`, `deleteModelPrice`); the money inputs of the writes."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, overload

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.pricing import owners
from resolvers.pricing.table import PriceEntry, PriceSource

strawberry.enum(
    PriceSource,
    description="Where a price comes from: the built-in table, the operator's PRICES_FILE, "
    "or the owner's own (setModelPrice), each replacing the one before for the model "
    "names it lists.",
)

STATED_COST = (
    "USD. Null (the default): priced from `model` and the tokens by the price in effect "
    "when written (costSource PRICED), else 0 (NONE). A value, 0 included, is kept as "
    "REPORTED."
)
COST_SOURCE = (
    "REPORTED: the writer stated the cost; PRICED: priced from the model and tokens when "
    "written (a later price change leaves it); NONE: neither, the cost is 0."
)
PRICE_ID = "The price a PRICED cost was computed with (ModelPrice.id)."
CACHED_INPUT_TOKENS = (
    "Of `inputTokens`, those read from the provider's prompt cache, priced at the model's "
    "cached-input price."
)
OwnerArgument = Annotated[
    str | None,
    strawberry.argument(
        description="Whose prices: yours unless given (only development mode may name another)."
    ),
]


@overload
def usd(value: float) -> Decimal: ...
@overload
def usd(value: None) -> None: ...
def usd(value: float | None) -> Decimal | None:
    """An amount sent as a Float, as the decimal it was written as (0.1 is 0.1)."""
    return None if value is None else Decimal(repr(value))


@strawberry.type(description="What one model's tokens cost, in USD per million tokens.")
class ModelPrice:
    id: strawberry.ID = strawberry.field(
        description="As spans and messages priced by it name it (`priceId`); "
        "a changed price has a new id."
    )
    source: PriceSource
    model: str = strawberry.field(description="In lower case, as names are compared.")
    provider: str | None
    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = strawberry.field(
        description="Null: cached input tokens cost what other input tokens cost."
    )
    as_of: str | None = strawberry.field(
        description="When the price was listed (a date) or last set (a date-time, UTC)."
    )

    @classmethod
    def of(cls, entry: PriceEntry) -> ModelPrice:
        cached = entry.cached_input_per_million
        return cls(
            id=strawberry.ID(entry.id),
            source=entry.source,
            model=entry.model,
            provider=entry.provider,
            input_per_million=float(entry.input_per_million),
            output_per_million=float(entry.output_per_million),
            cached_input_per_million=None if cached is None else float(cached),
            as_of=entry.as_of,
        )


@strawberry.input(description="USD per million tokens, with at most nine decimals.")
class ModelPriceInput:
    model: str = strawberry.field(
        description="Matched as other names are: case aside, dated snapshots "
        "(gpt-4o-2024-08-06) and longer names at a '-' (gpt-4o-audio) take its price."
    )
    provider: str | None = None
    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = strawberry.field(
        default=None, description="Null: cached input tokens cost what other input tokens cost."
    )

    def to_command(self) -> owners.SetModelPrice:
        return owners.SetModelPrice(
            model=self.model,
            provider=self.provider,
            input_per_million=usd(self.input_per_million),
            output_per_million=usd(self.output_per_million),
            cached_input_per_million=usd(self.cached_input_per_million),
        )


def _owner(info: Info[Context, None], user_id: str | None) -> str:
    return info.context.principal.user_id if user_id is None else user_id


@strawberry.type
class PricingQueries:
    @strawberry.field(
        description="The prices in effect for the conversations you own, by model: the "
        "built-in table, the operator's file and yours, each replacing the one before "
        "for the model names it lists."
    )
    async def model_prices(
        self,
        info: Info[Context, None],
        user_id: OwnerArgument = None,
    ) -> list[ModelPrice]:
        prices = await owners.prices_in_effect(info.context, _owner(info, user_id))
        return [ModelPrice.of(entry) for entry in prices.entries()]

    @strawberry.field(
        description="The price calls of `model` (by `provider`) in your conversations are "
        "priced with; null when none matches."
    )
    async def model_price(
        self,
        info: Info[Context, None],
        model: str,
        provider: str | None = None,
        user_id: OwnerArgument = None,
    ) -> ModelPrice | None:
        prices = await owners.prices_in_effect(info.context, _owner(info, user_id))
        found = prices.find(model, provider)
        return None if found is None else ModelPrice.of(found)


@strawberry.type
class PricingMutations:
    @strawberry.mutation(
        description="Your price for a model, ahead of the operator's and the built-in ones, "
        "in the conversations you (and your agents) own: for calls written from now on."
    )
    async def set_model_price(
        self,
        info: Info[Context, None],
        input: ModelPriceInput,
        user_id: OwnerArgument = None,
    ) -> ModelPrice:
        entry = await owners.set_model_price(
            info.context, _owner(info, user_id), input.to_command()
        )
        return ModelPrice.of(entry)

    @strawberry.mutation(
        description="Your price for the model goes (NOT_FOUND if you set none): the "
        "operator's or built-in one applies again. Answers the price that went."
    )
    async def delete_model_price(
        self,
        info: Info[Context, None],
        model: str,
        user_id: OwnerArgument = None,
    ) -> ModelPrice:
        entry = await owners.delete_model_price(info.context, _owner(info, user_id), model)
        return ModelPrice.of(entry)
