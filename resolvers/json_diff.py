"""Where two JSON values differ: a pure function, for comparing the state two runs
started from (resolvers/trace_comparison.py).

Objects are compared key by key, recursively, in key order (not as stored: PostgreSQL's
JSONB orders keys its own way); anything else (arrays included: their items have no
identity to pair them by) is compared whole. Both the depth and the number of
differences are capped: below `max_depth` an object is compared whole too, and past
`max_differences` the walk stops and says the list is truncated.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 16
MAX_DIFFERENCES = 200

# A key written after a dot; any other is written as a quoted JSON string in brackets.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Change(enum.Enum):
    ADDED = "ADDED"  # only the right value has it
    REMOVED = "REMOVED"  # only the left value has it
    CHANGED = "CHANGED"


@dataclass(frozen=True)
class Difference:
    path: str
    change: Change
    # None where the key is missing (ADDED, REMOVED), as where it is JSON null.
    left: Any = None
    right: Any = None


@dataclass
class Differences:
    found: list[Difference] = field(default_factory=list)
    truncated: bool = False


def key_path(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def differences(
    pairs: list[tuple[str, Any, Any]],
    *,
    max_depth: int = MAX_DEPTH,
    max_differences: int = MAX_DIFFERENCES,
) -> Differences:
    """The differences of each (path, left, right) pair, in order, under its path."""
    result = Differences()
    for path, left, right in pairs:
        if not _walk(result, path, left, right, max_depth, max_differences):
            break
    return result


def _walk(out: Differences, path: str, left: Any, right: Any, depth: int, cap: int) -> bool:
    """Add the differences of left and right under `path`; False once `cap` is reached."""
    if isinstance(left, dict) and isinstance(right, dict) and depth > 0:
        for key in sorted(left.keys() | right.keys()):
            where = key_path(path, key)
            if key not in right:
                added = _add(out, Difference(where, Change.REMOVED, left=left[key]), cap)
            elif key not in left:
                added = _add(out, Difference(where, Change.ADDED, right=right[key]), cap)
            else:
                added = _walk(out, where, left[key], right[key], depth - 1, cap)
            if not added:
                return False
        return True
    if _same(left, right):
        return True
    return _add(out, Difference(path, Change.CHANGED, left, right), cap)


def _add(out: Differences, difference: Difference, cap: int) -> bool:
    if len(out.found) >= cap:
        out.truncated = True
        return False
    out.found.append(difference)
    return True


def _same(left: Any, right: Any) -> bool:
    # As JSON: true is not 1 (Python says True == 1), 1 is 1.0.
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)
