"""Price entries: the built-in table (prices.json, shipped with the package) and the
operator's PRICES_FILE, which hold entries of one shape, in USD per million tokens:

    {"model": "gpt-4o", "provider": "openai", "inputPerMillion": 2.5,
     "outputPerMillion": 10, "cachedInputPerMillion": 1.25, "asOf": "2025-06"}

`provider`, `cachedInputPerMillion` (left out: cached input tokens cost what other input
tokens cost) and `asOf` are optional. Numbers are read as exact decimals, never floats,
with at most nine decimals (prices are kept in nano-dollars per million tokens).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from resolvers.pricing.matching import normal

# A price past this per million tokens is a typing mistake (the dearest list price is
# in the hundreds), and it keeps every priced call within a stored cost's limit.
MAX_PRICE_PER_MILLION = Decimal(10_000)
PRICE_DECIMALS = 9
MAX_NAME_LENGTH = 255
FIELDS = frozenset(
    {"model", "provider", "inputPerMillion", "outputPerMillion", "cachedInputPerMillion", "asOf"}
)


class PriceSource(StrEnum):
    """Where a price entry comes from, from the lowest layer to the highest."""

    BUILTIN = "BUILTIN"
    FILE = "FILE"
    OWNER = "OWNER"


@dataclass(frozen=True)
class PriceEntry:
    source: PriceSource
    # In lower case (matching.normal), as names are compared.
    model: str
    provider: str | None
    input_per_million: Decimal
    output_per_million: Decimal
    # None: cached input tokens cost what other input tokens cost.
    cached_input_per_million: Decimal | None
    as_of: str | None

    @property
    def id(self) -> str:
        """What a priced span or message names as its `priceId`: stable while the price is."""
        named = f"{self.provider}/{self.model}" if self.provider else self.model
        return f"{self.source.value.lower()}/{self.as_of or 'undated'}:{named}"


def price(where: str, value: object) -> Decimal:
    """A price per million tokens, or ValueError saying what is wrong with it."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{where} must be a number of USD per million tokens")
    amount = value if isinstance(value, Decimal) else Decimal(repr(value))
    if not amount.is_finite() or not 0 <= amount <= MAX_PRICE_PER_MILLION:
        raise ValueError(f"{where} must be between 0 and {MAX_PRICE_PER_MILLION} (got {value})")
    if amount.scaleb(PRICE_DECIMALS) % 1:
        raise ValueError(f"{where} has more than {PRICE_DECIMALS} decimals (got {value})")
    return amount


def name(where: str, value: object) -> str:
    """A model or provider name, in lower case: not blank, at most 255 characters of text
    a database stores (no NUL, no lone surrogate)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where} must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{where} is longer than {MAX_NAME_LENGTH} characters")
    if "\x00" in value or _unencodable(value):
        raise ValueError(f"{where} is not storable text")
    return normal(value)


def _unencodable(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return True
    return False


def entry(raw: Any, source: PriceSource, where: str, as_of: str | None = None) -> PriceEntry:
    """One entry of the shape above; `as_of` is the date of an entry that states none."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a JSON object")
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown} (known: {sorted(FIELDS)})")
    cached = raw.get("cachedInputPerMillion")
    stated_date = raw.get("asOf")
    if stated_date is not None and not isinstance(stated_date, str):
        raise ValueError(f"{where}.asOf must be a string")
    provider = raw.get("provider")
    return PriceEntry(
        source=source,
        model=name(f"{where}.model", raw.get("model")),
        provider=None if provider is None else name(f"{where}.provider", provider),
        input_per_million=price(f"{where}.inputPerMillion", raw.get("inputPerMillion")),
        output_per_million=price(f"{where}.outputPerMillion", raw.get("outputPerMillion")),
        cached_input_per_million=(
            None if cached is None else price(f"{where}.cachedInputPerMillion", cached)
        ),
        as_of=stated_date or as_of,
    )


def entries(
    raw: Any, source: PriceSource, where: str, as_of: str | None = None
) -> tuple[PriceEntry, ...]:
    """A JSON list of entries; a model listed twice for one provider is a mistake."""
    if not isinstance(raw, list):
        raise ValueError(f"{where} must be a JSON list of price entries")
    found = tuple(entry(item, source, f"{where}[{i}]", as_of) for i, item in enumerate(raw))
    seen: set[tuple[str, str | None]] = set()
    for item in found:
        key = (item.model, item.provider)
        if key in seen:
            raise ValueError(f"{where} lists {item.provider or 'no provider'}/{item.model} twice")
        seen.add(key)
    return found


def read_price_file(path: str) -> tuple[PriceEntry, ...]:
    """PRICES_FILE: the operator's entries (none for an empty path); ValueError, naming
    the file and the entry, when the file cannot be read or holds a bad entry."""
    if not path:
        return ()
    where = f"PRICES_FILE {path}"
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"{where} cannot be read: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise ValueError(f"{where} is not JSON: {exc}") from None
    return entries(raw, PriceSource.FILE, where)


@cache
def builtin() -> tuple[PriceEntry, ...]:
    """The table shipped with Threadline: list prices as of the date it states."""
    data = json.loads(
        files("resolvers.pricing").joinpath("prices.json").read_text(encoding="utf-8"),
        parse_float=Decimal,
    )
    return entries(data["prices"], PriceSource.BUILTIN, "prices.json", data["asOf"])
