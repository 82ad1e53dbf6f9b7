"""Relay global ids: base64("Type:uuid"), checked against the type a field expects."""

from __future__ import annotations

import base64
import binascii
import uuid

from resolvers.errors import BadInput


def to_global_id(type_name: str, raw_id: uuid.UUID | str) -> str:
    return base64.b64encode(f"{type_name}:{raw_id}".encode()).decode()


def from_global_id(global_id: str) -> tuple[str, uuid.UUID]:
    """Split a global id into its type name and UUID, or raise BadInput."""
    try:
        decoded = base64.b64decode(global_id, validate=True).decode()
        type_name, _, raw = decoded.partition(":")
        if not type_name or not raw:
            raise ValueError(decoded)
        return type_name, uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadInput(f"'{global_id}' is not a valid id") from None


def parse_id(global_id: str, expected_type: str) -> uuid.UUID:
    type_name, raw = from_global_id(global_id)
    if type_name != expected_type:
        raise BadInput(f"expected a {expected_type} id, got a {type_name} id: '{global_id}'")
    return raw


def parse_client_id(value: str | None, expected_type: str) -> uuid.UUID | None:
    """A client-chosen id for a new row: a plain UUID or a global id of the right type."""
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return parse_id(value, expected_type)
