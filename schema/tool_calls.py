"""The root `toolCalls` list: its filter, its order and the field."""

from __future__ import annotations

from datetime import datetime
from functools import partial

import strawberry
from strawberry.types import Info

from models.enums import ToolCallStatus
from resolvers import tool_call_list
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.pagination import PageArgs
from schema.enums import OrderDirection
from schema.message import ToolCall
from schema.node import from_row
from schema.pagination import Connection, PageArguments

ANY = "Empty or null: any."


@strawberry.input(description="Every condition given must hold.")
class ToolCallFilter:
    tool_names: list[str] | None = strawberry.field(
        default=None,
        description=f"At most {tool_call_list.MAX_TOOL_NAMES}, matched exactly. {ANY}",
    )
    statuses: list[ToolCallStatus] | None = strawberry.field(default=None, description=ANY)
    conversation_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Calls made in these conversations (at most MAX_PAGE_SIZE ids); one you "
        f"cannot see holds none for you. {ANY}",
    )
    started_after: datetime | None = strawberry.field(
        default=None, description="Inclusive (a call that has not started is left out)."
    )
    started_before: datetime | None = strawberry.field(default=None, description="Exclusive.")


@strawberry.input(description="By startedAt, ties by id; calls not started come last.")
class ToolCallOrder:
    direction: OrderDirection = OrderDirection.DESC


def tool_call_query(
    filter: ToolCallFilter | None, order: ToolCallOrder | None
) -> tool_call_list.ToolCallQuery:
    f, o = filter or ToolCallFilter(), order or ToolCallOrder()
    conversations = [parse_id(i, "Conversation") for i in f.conversation_ids or []]
    return tool_call_list.ToolCallQuery(
        tool_names=tuple(f.tool_names) if f.tool_names else None,
        statuses=tuple(f.statuses) if f.statuses else None,
        conversation_ids=tuple(conversations) if conversations else None,
        started_after=f.started_after,
        started_before=f.started_before,
        descending=o.direction == OrderDirection.DESC,
    )


@strawberry.type
class ToolCallQueries:
    @strawberry.field(
        description="Tool calls you can see (those of conversations you can read), newest "
        "first unless `orderBy` says.",
        extensions=[PageArguments()],
    )
    async def tool_calls(
        self,
        info: Info[Context, None],
        filter: ToolCallFilter | None = None,
        order_by: ToolCallOrder | None = None,
        page: PageArgs = PageArgs(),
    ) -> Connection[ToolCall]:
        ctx = info.context
        q = tool_call_query(filter, order_by)
        found = await tool_call_list.tool_calls(ctx, q, ctx.page_request(page))
        return Connection.of(found.page, partial(from_row, ToolCall), found.count)
