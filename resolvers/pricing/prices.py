"""The prices in effect: an owner's rows over the operator's file over the built-in table.

A higher layer replaces every entry of a model name it lists, whatever their provider.
The built-in table and the file are read once and kept in memory; the rows of the
owners a write concerns are read with one query per write (or ingested batch).
An owner's rows price the conversations that owner owns, and those owned by the
owner's agents.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import cache

from sqlalchemy import and_, case
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Agent, Conversation, ModelPrice
from models.enums import ParticipantType
from resolvers.pricing import matching
from resolvers.pricing.table import PriceEntry, PriceSource, builtin

# Where a write's session keeps the operator's entries (resolvers.writes.transaction).
PRICE_FILE = "threadline_price_file"


class PriceTable:
    """Entries by model name, each name's entries in the order they were listed."""

    def __init__(self, by_name: dict[str, tuple[PriceEntry, ...]]) -> None:
        self.by_name = by_name

    def over(self, entries: Iterable[PriceEntry]) -> PriceTable:
        """This table with `entries` replacing every entry of the names they list."""
        layer: dict[str, list[PriceEntry]] = defaultdict(list)
        for entry in entries:
            layer[entry.model].append(entry)
        if not layer:
            return self
        return PriceTable({**self.by_name, **{name: tuple(e) for name, e in layer.items()}})

    def find(self, model: str | None, provider: str | None) -> PriceEntry | None:
        return matching.find(self.by_name, model, provider)

    def entries(self) -> list[PriceEntry]:
        """Every entry in effect, by model name, then as listed."""
        return [entry for name in sorted(self.by_name) for entry in self.by_name[name]]


@cache
def installed(file_entries: tuple[PriceEntry, ...]) -> PriceTable:
    """The built-in table under the operator's file (Settings.prices)."""
    return PriceTable({}).over(builtin()).over(file_entries)


def table(session: AsyncSession) -> PriceTable:
    """The installation's table, for a write in `session`."""
    file_entries: tuple[PriceEntry, ...] = session.info[PRICE_FILE]
    return installed(file_entries)


def owner_entry(row: ModelPrice) -> PriceEntry:
    return PriceEntry(
        source=PriceSource.OWNER,
        model=row.model,
        provider=row.provider,
        input_per_million=row.input_per_million,
        output_per_million=row.output_per_million,
        cached_input_per_million=row.cached_input_per_million,
        # The time of the last change: a changed price is another entry.
        as_of=row.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )


def _payer() -> object:
    """The user whose prices a conversation's calls take: its owner, or its owner agent's."""
    return case(
        (col(Conversation.owner_type) == ParticipantType.AGENT, col(Agent.owner_id)),
        else_=col(Conversation.owner_id),
    )


async def owners_prices(
    session: AsyncSession, conversation_ids: Iterable[uuid.UUID], models: Sequence[str]
) -> dict[uuid.UUID, list[PriceEntry]]:
    """Per conversation, the entries its owner set for any name the `models` may be
    listed under: one query."""
    names = {name for model in models for name in matching.candidates(model)}
    wanted = set(conversation_ids)
    if not names or not wanted:
        return {}
    rows = await session.exec(
        select(col(Conversation.id), ModelPrice)
        .outerjoin(
            Agent,
            and_(
                col(Conversation.owner_type) == ParticipantType.AGENT,
                col(Agent.id) == col(Conversation.owner_id),
            ),
        )
        .join(ModelPrice, col(ModelPrice.owner_id) == _payer())
        .where(col(Conversation.id).in_(wanted), col(ModelPrice.model).in_(names))
    )
    found: dict[uuid.UUID, list[PriceEntry]] = defaultdict(list)
    for conversation_id, row in rows:
        found[conversation_id].append(owner_entry(row))
    return found
