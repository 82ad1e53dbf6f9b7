"""The mutation that registers component versions."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.writes import components
from schema.component import ComponentVersion
from schema.inputs import RegisterComponentVersionInput
from schema.node import from_row


@strawberry.type
class ComponentMutations:
    @strawberry.mutation(description="The same definition twice returns the same version.")
    async def register_component_version(
        self, info: Info[Context, None], input: RegisterComponentVersionInput
    ) -> ComponentVersion:
        row = await components.register_version(info.context, input.to_command())
        return from_row(ComponentVersion, row)
