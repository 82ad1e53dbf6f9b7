"""The mutations that write messages."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.writes import messages
from schema.inputs import EditMessageInput, SendMessageInput
from schema.message import Message
from schema.node import from_row

Ctx = Info[Context, None]


@strawberry.type
class MessageMutations:
    @strawberry.mutation
    async def send_message(self, info: Ctx, input: SendMessageInput) -> Message:
        return from_row(Message, await messages.send_message(info.context, input.to_command()))

    @strawberry.mutation(description="Writes a new sibling branch; the original stays.")
    async def edit_message(self, info: Ctx, input: EditMessageInput) -> Message:
        return from_row(Message, await messages.edit_message(info.context, input.to_command()))
