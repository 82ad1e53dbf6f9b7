"""Attribute values as the conventions send them: structures JSON-encoded in strings."""

from __future__ import annotations

import json
from typing import Any

from resolvers import validation
from resolvers.json_limits import JsonLimits


def json_value(value: Any, limits: JsonLimits) -> Any:
    """A JSON-encoded attribute decoded (conventions send structures as strings).

    What it holds is stored, and encoded again: it must be storable, and within the
    depth limit (its size is its attribute's, within the size limit).
    """
    if not isinstance(value, str):
        return value
    where = "a JSON-encoded attribute"
    try:
        decoded = json.loads(value)
    except RecursionError:
        raise limits.too_deep(where) from None
    except ValueError:
        return value
    limits.check_depth(where, decoded)
    validation.storable(where, decoded)
    return decoded


def json_document(value: Any, limits: JsonLimits) -> Any:
    """A string holding a JSON object or array, decoded; anything else as it is (a tool
    that answers "42" or "true" answered text)."""
    if not isinstance(value, str) or value.lstrip()[:1] not in ("{", "["):
        return value
    decoded = json_value(value, limits)
    return decoded if isinstance(decoded, dict | list) else value


def as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
