"""Scalars: JSON (typed as Any for mypy: a client may send any JSON value) and DateTime."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.scalars import JSON

if TYPE_CHECKING:
    JSONValue = Any
else:
    JSONValue = JSON

__all__ = ["JSONValue", "UTCDateTime", "parse_datetime"]


def parse_datetime(value: object) -> datetime:
    """ISO 8601, normalised to UTC; a time without an offset is taken as UTC.

    One zone everywhere keeps stored times comparable and responses consistent.
    """
    if not isinstance(value, str):
        raise ValueError("a DateTime is an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO 8601 date-time") from None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


UTCDateTime = strawberry.scalar(
    name="DateTime",
    description="ISO 8601 date-time; without an offset it is read as UTC.",
    serialize=lambda value: value.isoformat(),
    parse_value=parse_datetime,
)
