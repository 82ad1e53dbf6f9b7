"""Component versions by label, and each component's latest version: one statement a batch.

Visibility is part of every statement (a private component's versions are its owner's
alone), as for a by-id load: these reads are also entry points (the root lookup).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import col
from strawberry.dataloader import DataLoader

from models import ComponentVersion
from resolvers.access import visible
from resolvers.context import Context

VersionLoader = DataLoader[Any, ComponentVersion | None]


def _not_deprecated(version: Any) -> Any:
    return col(version.deprecated_at).is_(None)


def latest_versions(ctx: Context, *, include_deprecated: bool = False) -> VersionLoader:
    """Loader: component id -> its highest-numbered version (not deprecated, unless
    `include_deprecated`), or None."""

    async def load(component_ids: list[uuid.UUID]) -> list[ComponentVersion | None]:
        later = aliased(ComponentVersion)
        newest = select(func.max(col(later.version_number))).where(
            col(later.component_id) == col(ComponentVersion.component_id)
        )
        where = [
            col(ComponentVersion.component_id).in_(component_ids),
            *visible(ComponentVersion, ctx.principal),
        ]
        if not include_deprecated:
            newest = newest.where(_not_deprecated(later))
            where.append(_not_deprecated(ComponentVersion))
        where.append(col(ComponentVersion.version_number) == newest.scalar_subquery())
        rows = await ctx.loaders.fetch(select(ComponentVersion).where(*where))
        ctx.loaders.known(ComponentVersion, rows)
        return _by(component_ids, rows, lambda v: v.component_id)

    return ctx.loaders.custom(("latest_versions", include_deprecated), load)


def versions_by_name(ctx: Context) -> VersionLoader:
    """Loader: (component id, label) -> the version with that label, or None."""

    async def load(keys: list[tuple[uuid.UUID, str]]) -> list[ComponentVersion | None]:
        statement = select(ComponentVersion).where(
            col(ComponentVersion.component_id).in_({component for component, _ in keys}),
            col(ComponentVersion.version_name).in_({name for _, name in keys}),
            *visible(ComponentVersion, ctx.principal),
        )
        rows = await ctx.loaders.fetch(statement)
        ctx.loaders.known(ComponentVersion, rows)
        return _by(keys, rows, lambda v: (v.component_id, v.version_name))

    return ctx.loaders.custom("versions_by_name", load)


def _by(keys: Sequence[Any], rows: Sequence[Any], key: Any) -> list[ComponentVersion | None]:
    found = {key(row[0]): row[0] for row in rows}
    return [found.get(k) for k in keys]
