"""The mutations that register component versions and label or deprecate them."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.writes import commands as cmd
from resolvers.writes import components
from schema.commands import to_command
from schema.component import ComponentVersion
from schema.inputs import RegisterComponentVersionInput
from schema.node import from_row

# Changing a version is for whoever may add versions to its component: its owner.
OWNER_ONLY = " Only the component's owner may; FORBIDDEN for others who can read it."


@strawberry.input(
    description="Fields left out keep their value; null clears the label or the description."
)
class UpdateComponentVersionInput:
    version_name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="1 to 64 characters once trimmed; CONFLICT if another version has it.",
    )
    description: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the tags ([] clears them)."
    )

    def to_command(self) -> cmd.UpdateComponentVersion:
        return to_command(self, cmd.UpdateComponentVersion)


@strawberry.type
class ComponentMutations:
    @strawberry.mutation(
        description="The same definition twice returns the same version. Registered again, "
        "a definition's `versionName` or `description` is set on its version if it has none "
        "(CONFLICT if it has another), and `tags` it lacks are added; a deprecated version "
        "stays deprecated."
    )
    async def register_component_version(
        self, info: Info[Context, None], input: RegisterComponentVersionInput
    ) -> ComponentVersion:
        row = await components.register_version(info.context, input.to_command())
        return from_row(ComponentVersion, row)

    @strawberry.mutation(
        description="Set or clear a version's label, description or tags." + OWNER_ONLY
    )
    async def update_component_version(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateComponentVersionInput
    ) -> ComponentVersion:
        version_id = parse_id(id, "ComponentVersion")
        row = await components.update_version(info.context, version_id, input.to_command())
        return from_row(ComponentVersion, row)

    @strawberry.mutation(
        description="Mark a version deprecated (again: a reason given replaces the one before; "
        "the time stays). `latestVersion` then passes over it." + OWNER_ONLY
    )
    async def deprecate_component_version(
        self, info: Info[Context, None], id: strawberry.ID, reason: str | None = None
    ) -> ComponentVersion:
        version_id = parse_id(id, "ComponentVersion")
        row = await components.deprecate(info.context, version_id, reason)
        return from_row(ComponentVersion, row)

    @strawberry.mutation(description="Undo deprecateComponentVersion." + OWNER_ONLY)
    async def undeprecate_component_version(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> ComponentVersion:
        row = await components.undeprecate(info.context, parse_id(id, "ComponentVersion"))
        return from_row(ComponentVersion, row)
