"""Relay connections: edges with cursors, page info, and a lazily counted total."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Self, TypeVar

import strawberry
from strawberry.annotation import StrawberryAnnotation
from strawberry.extensions.field_extension import FieldExtension
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.field import StrawberryField

from resolvers.pagination import Page, PageArgs, Relation
from schema.scalars import Long

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
    async def total_count(self) -> Long:
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
    ) -> Self:
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


# The Relay page arguments, in the order every connection field lists them.
FORWARD: tuple[tuple[str, object], ...] = (("first", int | None), ("after", str | None))
BACKWARD: tuple[tuple[str, object], ...] = (("last", int | None), ("before", str | None))


class PageArguments(FieldExtension):
    """A connection field's page arguments, declared here once for every field.

    The resolver takes `page: PageArgs`; the schema shows `first, after, last, before`
    (only `first, after` with `backward=False`) after the resolver's other arguments,
    and the resolver receives them packed into `page`::

        @strawberry.field(extensions=[PageArguments()])
        async def plans(self, info: Info[Context, None], page: PageArgs) -> Connection[...]:
    """

    def __init__(self, *, backward: bool = True) -> None:
        self.names = FORWARD + BACKWARD if backward else FORWARD

    def apply(self, field: StrawberryField) -> None:
        # From the resolver's own arguments, not `field.arguments`: a schema may be
        # built more than once from the same fields, and this runs on every build.
        declared = field.base_resolver.arguments if field.base_resolver else []
        kept = [argument for argument in declared if argument.python_name != "page"]
        if len(kept) == len(declared):
            raise TypeError(f"{field.python_name}: a paged resolver takes `page: PageArgs`")
        field.arguments = [
            *kept,
            *(
                StrawberryArgument(
                    python_name=name,
                    graphql_name=None,
                    type_annotation=StrawberryAnnotation(type_),
                    default=None,
                )
                for name, type_ in self.names
            ),
        ]

    def map_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        page = PageArgs(**{name: kwargs.pop(name, None) for name, _ in self.names})
        return {**kwargs, "page": page}


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
