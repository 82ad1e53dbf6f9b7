"""Content-addressed component versions."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Component, ComponentVersion
from models.base import utcnow
from resolvers import validation
from resolvers.context import Context
from resolvers.errors import BadInput, Conflict, Forbidden, NotFound
from resolvers.writes.commands import RegisterComponentVersion
from resolvers.writes.transaction import insert_ignoring_duplicates, transaction, writer


def canonical_numbers(value: Any) -> Any:
    """`value` with every integral float as an int, at any depth.

    JSON has one number type: 1 and 1.0 are the same number, and RFC 8785 writes
    both as `1`. Only the hashed text changes; definitions are stored as given.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: canonical_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [canonical_numbers(item) for item in value]
    return value


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no spaces, UTF-8 kept as is, 1.0 as 1."""
    return json.dumps(
        canonical_numbers(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def content_hash(definition: Any) -> str:
    return hashlib.sha256(canonical_json(definition).encode()).hexdigest()


async def _component(session: AsyncSession, data: RegisterComponentVersion) -> Component:
    """The component for this key, created on first use (the writer's), locked for this
    transaction."""
    await session.exec(
        insert_ignoring_duplicates(
            session,
            Component,
            id=uuid.uuid4(),
            key=data.component_key,
            type=data.type,
            name=data.name or data.component_key,
            owner_id=writer(session).user_id,
            private=data.private,
            version_count=0,
            created_at=utcnow(),
        )
    )
    # A no-op UPDATE takes the row lock, so two registrations of one component queue.
    locked = await session.exec(
        update(Component)
        .where(col(Component.key) == data.component_key)
        .values(version_count=col(Component.version_count))
        .returning(col(Component.id))
        .execution_options(synchronize_session=False)
    )
    component_id = locked.scalar_one()
    component = await session.get(Component, component_id, populate_existing=True)
    assert component is not None
    return component


async def register_version(ctx: Context, data: RegisterComponentVersion) -> ComponentVersion:
    validation.not_blank("componentKey", data.component_key)
    try:
        digest = content_hash(data.definition)
    except ValueError:
        raise BadInput("`definition` must be JSON without NaN or Infinity") from None
    async with transaction(ctx) as session:
        return await register_in(session, data, digest)


async def register_in(
    session: AsyncSession, data: RegisterComponentVersion, digest: str
) -> ComponentVersion:
    """The version with this content hash, registered in the session's transaction if new."""
    component = await _component(session, data)
    principal = writer(session)
    mine = principal.unrestricted or component.owner_id == principal.user_id
    if not mine and component.private:
        raise NotFound(f"component '{data.component_key}' does not exist")
    if component.type != data.type:
        raise Conflict(f"component '{data.component_key}' is a {component.type}, not a {data.type}")
    result = await session.exec(
        select(ComponentVersion).where(
            col(ComponentVersion.component_id) == component.id,
            col(ComponentVersion.content_hash) == digest,
        )
    )
    found = result.first()
    if found is not None:
        return found
    if not mine:
        # Else anybody could make their version the latest of somebody else's prompt.
        raise Forbidden(f"component '{data.component_key}' belongs to another user")
    component.version_count += 1
    version = ComponentVersion(
        component_id=component.id,
        content_hash=digest,
        version_number=component.version_count,
        definition=data.definition,
    )
    session.add(version)
    return version
