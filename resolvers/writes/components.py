"""Content-addressed component versions."""

from __future__ import annotations

import dataclasses
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
from resolvers.principal import Principal
from resolvers.writes.commands import RegisterComponentVersion, UpdateComponentVersion, given
from resolvers.writes.transaction import (
    get_or_404,
    insert_ignoring_duplicates,
    transaction,
    writer,
)

MAX_LABEL_LENGTH = 64


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


def may_add_versions(principal: Principal, component: Component) -> bool:
    """Only the owner adds versions (or changes them): else anybody could make their
    version the latest of somebody else's prompt. Components without an owner are
    development mode's alone."""
    return principal.unrestricted or component.owner_id == principal.user_id


def label(value: str | None) -> str | None:
    """A version label, trimmed: 1 to 64 characters."""
    if value is None:
        return None
    trimmed = value.strip()
    validation.not_blank("versionName", trimmed)
    validation.at_most("`versionName`", trimmed, MAX_LABEL_LENGTH)
    return trimmed


async def register_version(ctx: Context, data: RegisterComponentVersion) -> ComponentVersion:
    validation.not_blank("componentKey", data.component_key)
    validation.not_blank("description", data.description)
    data = dataclasses.replace(
        data, version_name=label(data.version_name), tags=validation.tag_list("tags", data.tags)
    )
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
    mine = may_add_versions(principal, component)
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
        additions = _additions(component, found, data)
        if additions and not mine:
            raise Forbidden(f"component '{data.component_key}' belongs to another user")
        return await _change(session, component, found, additions)
    if not mine:
        raise Forbidden(f"component '{data.component_key}' belongs to another user")
    if data.version_name is not None:
        await _require_free_label(session, component, data.version_name)
    component.version_count += 1
    creator = principal.identities[-1]  # the key's agent, if it acts for one
    version = ComponentVersion(
        component_id=component.id,
        content_hash=digest,
        version_number=component.version_count,
        definition=data.definition,
        version_name=data.version_name,
        description=data.description,
        tags=data.tags,
        created_by_id=creator.id,
        created_by_type=creator.type,
    )
    session.add(version)
    return version


def _additions(
    component: Component, version: ComponentVersion, data: RegisterComponentVersion
) -> dict[str, Any]:
    """What registering a version's content again adds to it: the label or description
    it lacks, the tags it lacks. A label or description it has must be given as it is."""
    additions: dict[str, Any] = {}
    for name, field in (("version_name", "versionName"), ("description", "description")):
        wanted, current = getattr(data, name), getattr(version, name)
        if wanted is None or wanted == current:
            continue
        if current is not None:
            raise Conflict(
                f"version {version.version_number} of '{component.key}' has this definition "
                f"and the {field} '{current}'; change it with updateComponentVersion"
            )
        additions[name] = wanted
    new_tags = [tag for tag in data.tags if tag not in version.tags]
    if new_tags:
        additions["tags"] = [*version.tags, *new_tags]
    return additions


async def _change(
    session: AsyncSession,
    component: Component,
    version: ComponentVersion,
    changes: dict[str, Any],
) -> ComponentVersion:
    """The version with `changes` applied; a label it takes must be free."""
    wanted = changes.get("version_name")
    if wanted is not None and wanted != version.version_name:
        await _require_free_label(session, component, wanted)
    for name, value in changes.items():
        setattr(version, name, value)
    session.add(version)
    return version


async def _require_free_label(session: AsyncSession, component: Component, name: str) -> None:
    # The component is locked: no other writer labels one of its versions meanwhile.
    taken = await session.exec(
        select(col(ComponentVersion.version_number)).where(
            col(ComponentVersion.component_id) == component.id,
            col(ComponentVersion.version_name) == name,
        )
    )
    number = taken.first()
    if number is not None:
        raise Conflict(f"'{name}' is the label of version {number} of '{component.key}' already")


async def _version_to_change(
    session: AsyncSession, version_id: uuid.UUID
) -> tuple[Component, ComponentVersion]:
    """The version and its component, locked, if the writer may change its versions:
    NOT_FOUND where they may not see it, FORBIDDEN where they may only read it."""
    version = await get_or_404(session, ComponentVersion, version_id)
    component = await get_or_404(session, Component, version.component_id, lock=True)
    if not may_add_versions(writer(session), component):
        raise Forbidden(f"component '{component.key}' belongs to another user")
    await session.refresh(version)  # as it is now that the component is locked
    return component, version


async def update_version(
    ctx: Context, version_id: uuid.UUID, data: UpdateComponentVersion
) -> ComponentVersion:
    changes = given(data)
    if "tags" in changes:
        if changes["tags"] is None:
            raise BadInput("`tags` cannot be null (send [] to clear them)")
        changes["tags"] = validation.tag_list("tags", changes["tags"])
    if "version_name" in changes:
        changes["version_name"] = label(changes["version_name"])
    validation.not_blank("description", changes.get("description"))
    async with transaction(ctx) as session:
        component, version = await _version_to_change(session, version_id)
        return await _change(session, component, version, changes)


async def deprecate(ctx: Context, version_id: uuid.UUID, reason: str | None) -> ComponentVersion:
    """Deprecated since the first call; a reason given replaces the one stated before."""
    validation.not_blank("reason", reason)
    async with transaction(ctx) as session:
        component, version = await _version_to_change(session, version_id)
        changes: dict[str, Any] = {"deprecated_at": version.deprecated_at or utcnow()}
        if reason is not None:
            changes["deprecation_reason"] = reason
        return await _change(session, component, version, changes)


async def undeprecate(ctx: Context, version_id: uuid.UUID) -> ComponentVersion:
    async with transaction(ctx) as session:
        component, version = await _version_to_change(session, version_id)
        changes = {"deprecated_at": None, "deprecation_reason": None}
        return await _change(session, component, version, changes)
