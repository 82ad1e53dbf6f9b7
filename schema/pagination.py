"""Relay connections: edges with cursors, page info, and a lazily counted total."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from resolvers.pagination import Page, PageArgs, Relation

NodeT = TypeVar("NodeT")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the whole list has, across all pages.")
    async def total_count(self) -> int:
        return await self.count()

    @strawberry.field(description="The nodes of `edges`, for clients that need no cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @classmethod
    def of(
        cls,
        page: Page[Any],
        convert: Callable[[Any], NodeT],
        count: Callable[[], Awaitable[int]],
    ) -> Connection[NodeT]:
        edges = [
            Edge(cursor=cursor, node=convert(row))
            for row, cursor in zip(page.rows, page.cursors, strict=True)
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            count=count,
        )


def page_args(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> PageArgs:
    return PageArgs(first=first, after=after, last=last, before=before)


async def nested_connection(
    info: Any,
    relation: Relation,
    parent_id: uuid.UUID,
    args: PageArgs,
    convert: Callable[[Any], NodeT],
) -> Connection[NodeT]:
    """A page of a parent's children, batched with the same page of its siblings."""
    loaders = info.context.loaders
    page = await loaders.page_by(relation).load((parent_id, info.context.page_request(args)))
    return Connection.of(page, convert, lambda: loaders.count_by(relation).load(parent_id))
