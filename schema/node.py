"""The Relay `Node` interface and the conversion of stored rows into GraphQL objects."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, TypeVar

import strawberry

import models
from resolvers.errors import NotFound
from resolvers.ids import to_global_id

T = TypeVar("T")


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


_COPIED_FIELDS: dict[type[Any], tuple[tuple[str, str], ...]] = {}


def _copied_fields(cls: type[Any]) -> tuple[tuple[str, str], ...]:
    """(field, row attribute) pairs copied as-is from a row; `metadata` is stored as `meta`."""
    found = _COPIED_FIELDS.get(cls)
    if found is None:
        names = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in {"id", "row"}]
        found = tuple((name, "meta" if name == "metadata" else name) for name in names)
        _COPIED_FIELDS[cls] = found
    return found


def from_row(cls: type[T], row: Any) -> T:
    """Build a GraphQL object from its row: scalar fields copied, the row kept privately."""
    values: dict[str, Any] = {name: getattr(row, source) for name, source in _copied_fields(cls)}
    values["id"] = strawberry.ID(to_global_id(cls.__name__, row.id))
    values["row"] = row
    return cls(**values)


def from_rows(cls: type[T], rows: list[Any]) -> list[T]:
    return [from_row(cls, row) for row in rows]


def maybe_from_row(cls: type[T], row: Any | None) -> T | None:
    return None if row is None else from_row(cls, row)


async def related(info: Any, cls: type[T], row_id: uuid.UUID | None) -> T | None:
    """The object a (nullable) foreign key points at, through the request's by-id loader.

    GraphQL types are named after their tables, as `node(id:)` relies on too.
    """
    if row_id is None:
        return None
    row = await info.context.loaders.by_id(getattr(models, cls.__name__)).load(row_id)
    return maybe_from_row(cls, row)


async def required(info: Any, cls: type[T], row_id: uuid.UUID) -> T:
    """The object a non-null foreign key points at (the database keeps it there)."""
    found = await related(info, cls, row_id)
    if found is None:
        raise NotFound(f"{cls.__name__} '{to_global_id(cls.__name__, row_id)}' does not exist")
    return found
