"""How deep a JSON value may nest and how large it may be.

A value nested a few hundred levels deep passes json.loads, and is stored, but breaks
whatever serialises it later: pydantic and orjson give up past 255 levels, recursive
helpers at Python's recursion limit. So every value is checked where it comes in
(schema/input_guard.py, OTLP ingestion), and what was stored before the limit existed
is cut at the limit where it goes out as a whole (the export).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from config import Settings
from resolvers.errors import BadInput


@dataclass(frozen=True)
class JsonLimits:
    depth: int  # levels of objects and arrays
    size: int  # bytes of the compact encoding

    @classmethod
    def of(cls, settings: Settings) -> JsonLimits:
        return cls(settings.max_json_depth, settings.max_json_bytes)

    def too_deep(self, where: str) -> BadInput:
        return BadInput(f"{where} is nested deeper than the limit of {self.depth} levels")

    def check_depth(self, where: str, value: Any) -> None:
        if deeper_than(value, self.depth):
            raise self.too_deep(where)

    def check(self, path: str, value: Any, levels_down: int = 0) -> None:
        """Refuse `value` when too deep or too large; or, `levels_down` objects or arrays
        into it, each object or array found there (an import document's rows' values)."""
        for found, item in _below(path, value, levels_down):
            self.check_depth(f"`{found}`", item)
            size = encoded_size(item)
            if size > self.size:
                raise BadInput(
                    f"`{found}` is larger than the limit of {self.size:,} bytes "
                    f"as compact JSON (got {size:,})"
                )


def _below(path: str, value: Any, levels: int) -> Iterator[tuple[str, Any]]:
    if levels == 0:
        yield path, value
        return
    pending = [(path, value, 0)]
    while pending:
        where, item, level = pending.pop()
        if level == levels:
            if isinstance(item, dict | list):
                yield where, item
        elif isinstance(item, dict):
            pending.extend((f"{where}.{key}", child, level + 1) for key, child in item.items())
        elif isinstance(item, list):
            pending.extend((f"{where}[{i}]", child, level + 1) for i, child in enumerate(item))


def deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels (a scalar: 0 levels).

    Walked with a stack, not recursion, and given up as soon as the answer is known.
    """
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, level = pending.pop()
        if level > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return False


def encoded_size(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except TypeError:
        # What orjson refuses and json writes: integers past 64 bits.
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def truncated(value: Any, limit: int) -> Any:
    """`value`, its objects and arrays nested deeper than `limit` levels each replaced by
    a string saying so (a string adds no level); `value` itself when it is not that deep.
    """
    if not deeper_than(value, limit):
        return value
    return _cut(value, limit, f"[truncated: nested deeper than {limit} levels]")


def _cut(value: Any, levels_left: int, marker: str) -> Any:
    # Recursion stops `limit` levels down, wherever the value ends.
    if not isinstance(value, dict | list):
        return value
    if levels_left == 0:
        return marker
    if isinstance(value, dict):
        return {key: _cut(item, levels_left - 1, marker) for key, item in value.items()}
    return [_cut(item, levels_left - 1, marker) for item in value]
