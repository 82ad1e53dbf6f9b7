"""Checks on client input, run before anything is written."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from resolvers.errors import BadInput

PART_TYPES = frozenset({"text", "reasoning", "tool_call", "tool_result", "file", "uri"})
MAX_TEMPERATURE = 2.0


def non_negative(**values: float | int | None) -> None:
    for name, value in values.items():
        if value is not None and value < 0:
            raise BadInput(f"`{name}` cannot be negative (got {value})")


def in_range(name: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise BadInput(f"`{name}` must be between {low} and {high} (got {value})")


def temperature(value: float | None, name: str = "temperature") -> None:
    in_range(name, value, 0.0, MAX_TEMPERATURE)


def positive(name: str, value: int | None) -> None:
    if value is not None and value <= 0:
        raise BadInput(f"`{name}` must be positive (got {value})")


def exactly_one(**values: object) -> None:
    """For arguments that are alternatives: exactly one must be given (not null)."""
    if sum(value is not None for value in values.values()) != 1:
        names = " and ".join(f"`{name}`" for name in values)
        raise BadInput(f"give exactly one of {names}")


def not_blank(name: str, value: str | None) -> None:
    if value is not None and not value.strip():
        raise BadInput(f"`{name}` cannot be empty")


def json_object(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise BadInput(f"`{name}` must be a JSON object")


def json_objects(name: str, values: Iterable[Any]) -> None:
    for index, value in enumerate(values):
        if not isinstance(value, dict):
            raise BadInput(f"`{name}[{index}]` must be a JSON object")


def message_parts(parts: list[Any]) -> None:
    json_objects("parts", parts)
    for index, part in enumerate(parts):
        if part.get("type") not in PART_TYPES:
            allowed = ", ".join(sorted(PART_TYPES))
            raise BadInput(f"`parts[{index}].type` must be one of {allowed}")


def parse_datetime(value: object) -> datetime:
    """ISO 8601, normalised to UTC; a time without an offset is taken as UTC.

    One zone everywhere keeps stored times comparable and responses consistent.
    Raises ValueError: the DateTime scalar and cursors each report it their way.
    """
    if not isinstance(value, str):
        raise ValueError("a DateTime is an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+05:00 is in year 0 in UTC, 9999-12-31T23:00-05:00 in 10000.
        raise ValueError(f"'{value}' is outside the years 1 to 9999 in UTC") from None


def ordered(start: datetime, end: datetime, what: str) -> None:
    if end < start:
        raise BadInput(
            f"{what} cannot end ({end.isoformat()}) before it starts ({start.isoformat()})"
        )


def unique(name: str, values: Iterable[Any]) -> None:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise BadInput(f"`{name}` lists '{value}' twice")
        seen.add(value)


def string_list(name: str, values: list[str]) -> None:
    for value in values:
        not_blank(name, value)


def tag_list(name: str, values: list[str]) -> list[str]:
    """Tags as stored: none blank, each once, in the order first given."""
    string_list(name, values)
    return list(dict.fromkeys(values))


# A message or span reporting more is a client bug; their token columns (unlike the
# conversation and trace totals) are 32-bit, and their fields GraphQL Ints.
MAX_TOKENS_PER_ITEM = 10_000_000


def token_counts(**values: int | None) -> None:
    non_negative(**values)
    for name, value in values.items():
        if value is not None and value > MAX_TOKENS_PER_ITEM:
            raise BadInput(f"`{name}` is above the limit of {MAX_TOKENS_PER_ITEM:,} (got {value})")


def storable_text(where: str, text: str) -> None:
    # PostgreSQL refuses NUL in text and JSON (SQLite would keep it), and a lone
    # UTF-16 surrogate is not Unicode: neither database driver can encode it.
    if "\x00" in text:
        raise BadInput(f"{where} contains a NUL character (\\u0000), which cannot be stored")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise BadInput(f"{where} contains a lone UTF-16 surrogate, which is not text") from None


# Identifiers (participant, user and session ids, component keys, tool names...) are
# indexed: PostgreSQL refuses an index entry past 2704 bytes (a server fault), SQLite
# keeps it. 255 characters, of at most 4 bytes in UTF-8, stay far within.
MAX_IDENTIFIER_LENGTH = 255
# A conversation's title, as the conversation API was designed.
MAX_TITLE_LENGTH = 255


def identifier(where: str, value: str) -> None:
    at_most(where, value, MAX_IDENTIFIER_LENGTH)


def title(where: str, value: str | None) -> None:
    if value is not None:
        at_most(where, value, MAX_TITLE_LENGTH)


def at_most(where: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise BadInput(f"{where} is longer than the limit of {limit} characters (got {len(value)})")


def finite(number: float) -> bool:
    """False for NaN and infinities, and for integers past the largest float, which
    a Float reads as infinity (and which JSON parsers disagree about)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def storable(where: str, value: Any) -> None:
    """Refuse a value, JSON ones included, that a database cannot store as given.

    Strings and object keys must be storable text; numbers must be finite (JSON has
    no NaN or Infinity: SQLite would keep invalid JSON, PostgreSQL would refuse it).
    Walked with a stack, not recursion, so any nesting depth is checked.
    """
    pending = [(where, value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            storable_text(f"`{path}`", item)
        elif isinstance(item, int | float) and not finite(item):
            raise BadInput(f"`{path}` must be a finite number")
        elif isinstance(item, dict):
            for key, child in item.items():
                storable_text(f"a key in `{path}`", key)
                pending.append((f"{path}.{key}", child))
        elif isinstance(item, list):
            pending.extend((f"{path}[{index}]", child) for index, child in enumerate(item))


# Per message or span, in USD: more is a client bug, and sums must stay within a BIGINT
# of nano-dollars (models.base.Money).
MAX_COST_PER_ITEM = Decimal(1_000_000)


def cost(value: Decimal | None, name: str = "cost") -> None:
    """A stated cost (None: none stated)."""
    if value is not None and not 0 <= value <= MAX_COST_PER_ITEM:
        raise BadInput(f"`{name}` must be between 0 and {MAX_COST_PER_ITEM} USD (got {value})")


def cached_input(cached: int, input_tokens: int) -> None:
    """Cached input tokens are some of the input tokens."""
    if cached > input_tokens:
        raise BadInput(
            f"`cachedInputTokens` ({cached}) cannot be more than `inputTokens` ({input_tokens})"
        )
