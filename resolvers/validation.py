"""Checks on client input, run before anything is written."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
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
