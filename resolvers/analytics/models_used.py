"""`Conversation.modelsUsed`: the models a conversation's calls used, for many
conversations at once.

Read from the usage roll-ups (models.rollups), not from the spans and messages: the
triggers append their delta rows in the writing transaction, so for a conversation's
whole life (no range, so no ragged ends to read from the rows) they are exact, and a
conversation's rows are a few per hour and model, found by its index, where its calls
may be thousands. The sums follow `usage`'s rules (resolvers.analytics.usage): scope ALL
counts every span and every model-call message once; a key's signed delta rows are
summed, and a key whose calls net to zero (its calls deleted, or moved to another
model) is no model used.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select, type_coerce
from sqlmodel import col

from models import UsageRollup
from models.base import Money
from models.rollups import Scope
from resolvers.context import Context


@dataclass(frozen=True)
class ModelUsage:
    model: str
    provider: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: Decimal


def models_used_statement(conversation_ids: Sequence[uuid.UUID]) -> Select[*tuple[Any, ...]]:
    """Per conversation, model and provider: calls, token sums and cost, costliest first.
    Calls that name no model (tool spans, say) used none."""
    calls = func.sum(col(UsageRollup.calls))
    # The roll-ups hold nano-dollars: read back as a Decimal of USD, as a Money column.
    cost = type_coerce(func.sum(col(UsageRollup.cost)), Money)
    model, provider = col(UsageRollup.model), col(UsageRollup.provider)
    return (
        select(
            col(UsageRollup.conversation_id),
            model,
            provider,
            calls,
            func.sum(col(UsageRollup.input_tokens)),
            func.sum(col(UsageRollup.output_tokens)),
            func.sum(col(UsageRollup.total_tokens)),
            cost,
        )
        .where(
            col(UsageRollup.conversation_id).in_(conversation_ids),
            col(UsageRollup.scope) == Scope.ALL,
            model.is_not(None),
        )
        .group_by(col(UsageRollup.conversation_id), model, provider)
        .having(calls != 0)
        .order_by(cost.desc(), model, provider.asc().nulls_last())
    )


def models_used(ctx: Context) -> Any:
    """Loader: conversation id -> its ModelUsage list, one statement per batch (the caller
    saw the conversation, so every call in it is visible)."""

    async def load(conversation_ids: Sequence[uuid.UUID]) -> list[list[ModelUsage]]:
        found: dict[uuid.UUID, list[ModelUsage]] = {i: [] for i in conversation_ids}
        rows = await ctx.loaders.fetch(models_used_statement(conversation_ids))
        for conversation_id, model, provider, *sums, cost in rows:
            # A SUM over BIGINT is NUMERIC on PostgreSQL: whole numbers still.
            calls, input_tokens, output_tokens, total_tokens = (int(s) for s in sums)
            found[conversation_id].append(
                ModelUsage(model, provider, calls, input_tokens, output_tokens, total_tokens, cost)
            )
        return [found[i] for i in conversation_ids]

    return ctx.loaders.custom("models_used", load)
