"""What ingested model calls cost: what they report, else their price (resolvers.pricing).

Only model-call spans (batch.MODEL_CALLS) cost anything: another span's cost attribute
restates its calls' costs, as its usage attributes restate their tokens. A call reports
its cost in OpenInference's `llm.cost.total` or in `gen_ai.usage.cost`; a value that is
not a cost (negative, past the limit, not a number) is no report.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from resolvers.ingest.batch import MODEL_CALLS, Mapped, TraceBatch
from resolvers.pricing import charges
from resolvers.validation import MAX_COST_PER_ITEM

REPORTED = ("llm.cost.total", "gen_ai.usage.cost")


async def price_spans(session: AsyncSession, batches: list[TraceBatch]) -> None:
    """Give each model call its charge, and its cost to its usage: one query for the
    prices of the batch's conversations' owners."""
    calls: dict[uuid.UUID, tuple[uuid.UUID, charges.ModelCall]] = {
        m.id: (batch.conversation_id, _call(m))
        for batch in batches
        for m in batch.spans
        if m.facts.kind in MODEL_CALLS
    }
    found = await charges.charges(session, calls)
    for batch in batches:
        for m in batch.spans:
            if m.id in found:
                m.charge = found[m.id]
                m.usage = replace(m.usage, cost=m.charge.cost)


def reported_cost(attributes: dict[str, Any]) -> Decimal | None:
    for key in REPORTED:
        amount = _usd(attributes.get(key))
        if amount is not None:
            return amount
    return None


def _call(m: Mapped) -> charges.ModelCall:
    return charges.ModelCall(
        m.facts.model,
        m.facts.provider,
        m.usage.input_tokens,
        m.facts.cached_input_tokens,
        m.usage.output_tokens,
        reported_cost(m.span.attributes),
    )


def _usd(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    if not amount.is_finite() or not 0 <= amount <= MAX_COST_PER_ITEM:
        return None
    return amount
