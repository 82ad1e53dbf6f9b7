"""Component and ComponentVersion types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

import models
from models.enums import ComponentType, ParticipantType
from resolvers.analytics.versions import version_comparisons
from resolvers.component_versions import latest_versions, versions_by_name
from resolvers.context import Context
from resolvers.pagination import PageArgs
from resolvers.relations import SPANS_OF_VERSION, VERSIONS_OF_COMPONENT
from schema.node import Node, from_row, from_rows, maybe_from_row, required
from schema.pagination import Connection, PageArguments, nested_connection
from schema.scalars import JSONValue, Long
from schema.version_comparison import VersionComparison

if TYPE_CHECKING:
    from schema.trace import Span

SpanT = Annotated["Span", strawberry.lazy("schema.trace")]


@strawberry.type
class Component(Node):
    id: strawberry.ID
    key: str = strawberry.field(description="The stable id clients register versions under.")
    type: ComponentType
    name: str
    created_at: datetime
    version_count: Long
    row: strawberry.Private[models.Component]

    @strawberry.field(description="Every version, oldest first.")
    async def versions(
        self,
        info: Info[Context, None],
        include_deprecated: Annotated[
            bool, strawberry.argument(description="false: deprecated versions are left out.")
        ] = True,
    ) -> list[ComponentVersion]:
        rows = await info.context.loaders.rows_by(VERSIONS_OF_COMPONENT).load(self.row.id)
        if not include_deprecated:
            rows = [row for row in rows if row.deprecated_at is None]
        return from_rows(ComponentVersion, rows)

    @strawberry.field(
        description="The highest-numbered version; deprecated ones are passed over unless "
        "`includeDeprecated`. Null if there is none."
    )
    async def latest_version(
        self, info: Info[Context, None], include_deprecated: bool = False
    ) -> ComponentVersion | None:
        loader = latest_versions(info.context, include_deprecated=include_deprecated)
        return maybe_from_row(ComponentVersion, await loader.load(self.row.id))

    @strawberry.field(description="The version with this label (`versionName`), if any.")
    async def version(self, info: Info[Context, None], name: str) -> ComponentVersion | None:
        row = await versions_by_name(info.context).load((self.row.id, name.strip()))
        return maybe_from_row(ComponentVersion, row)

    @strawberry.field(
        description="Every version, oldest first, with its spans' tokens, cost, latency, "
        "errors and score averages, to compare them side by side."
    )
    async def version_comparison(self, info: Info[Context, None]) -> list[VersionComparison]:
        found = await version_comparisons(info.context).load(self.row.id)
        return [VersionComparison.of(figures) for figures in found]

    @classmethod
    def of(cls, row: models.Component) -> Component:
        return from_row(cls, row)


@strawberry.type
class ComponentVersion(Node):
    id: strawberry.ID
    content_hash: str = strawberry.field(
        description="SHA-256 of the canonical JSON of the definition: the version's key."
    )
    version_number: int = strawberry.field(description="1 for the first version, then 2, ...")
    definition: JSONValue
    created_at: datetime
    version_name: str | None = strawberry.field(
        description='Its label ("v3", "2026-12-rollout"), unique within the component.'
    )
    description: str | None
    tags: list[str]
    created_by_id: str | None = strawberry.field(
        description="Who registered it (with createdByType): a user, or the agent of the "
        "user's API key. Null for older versions of a component without an owner."
    )
    created_by_type: ParticipantType | None
    deprecated_at: datetime | None
    deprecation_reason: str | None
    row: strawberry.Private[models.ComponentVersion]

    @strawberry.field(description="Deprecated versions stay readable; see deprecatedAt.")
    def deprecated(self) -> bool:
        return self.deprecated_at is not None

    @strawberry.field
    async def component(self, info: Info[Context, None]) -> Component:
        return await required(info, Component, self.row.component_id)

    @strawberry.field(
        description="Spans that used this version, by start time.", extensions=[PageArguments()]
    )
    async def spans(
        self,
        info: Info[Context, None],
        page: PageArgs = PageArgs(),
    ) -> Connection[SpanT]:
        from schema.trace import Span

        return await nested_connection(info, SPANS_OF_VERSION, self.row.id, page, Span.of)
