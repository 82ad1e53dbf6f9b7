"""GraphQL inputs into the writes' commands (resolvers/writes/commands.py).

Each input's `to_command()` calls `to_command` here: fields map by name, a field left
out (UNSET) becomes KEEP, and global ids become UUIDs, so the writes never see a
Strawberry class.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

import strawberry

from resolvers.ids import parse_client_id, parse_id
from resolvers.writes.commands import KEEP

C = TypeVar("C")


def to_command(
    source: object, target: type[C], ids: Mapping[str, str] | None = None, **values: Any
) -> C:
    """`target` made of `source`'s fields of the same names, and of `values` as given.

    `ids` names the fields holding global ids, with the type each must be (a list of
    them too); `id`, a client-chosen id, may also be a plain UUID.
    """
    ids = ids or {}
    for f in dataclasses.fields(target):  # type: ignore[arg-type]
        if f.name in values or not hasattr(source, f.name):
            continue
        value = kept(getattr(source, f.name))
        if f.name in ids and value is not KEEP:
            value = decode_ids(value, ids[f.name], client=f.name == "id")
        values[f.name] = value
    return target(**values)


def kept(value: Any) -> Any:
    """An argument's value, KEEP where it was left out (UNSET)."""
    return KEEP if value is strawberry.UNSET else value


def decode_ids(value: Any, type_name: str, *, client: bool = False) -> Any:
    """The UUID (or None, or list of UUIDs) of a global id (or None, or list of them)."""
    if isinstance(value, list):
        return [decode_ids(v, type_name) for v in value]
    if client:
        return parse_client_id(value, type_name)
    return None if value is None else parse_id(value, type_name)


def optional_id(value: str | None, type_name: str) -> uuid.UUID | None:
    """An optional reference where an empty id, as a null one, means none."""
    return parse_id(value, type_name) if value else None
