"""Per-request DataLoaders: each batch of keys becomes one `IN (...)` query.

Loaders are created per request (per operation on a WebSocket) so their caches
never serve stale rows across requests. Each batch opens its own session:
sibling fields resolve concurrently and one session cannot be shared.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from strawberry.dataloader import DataLoader

from resolvers.access import visible
from resolvers.db import RowSessionFactory
from resolvers.pagination import Page, PageRequest, Relation, make_page, partitioned_page_query
from resolvers.principal import Principal

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Loaders:
    """Loaders that read as `principal`: rows it may not see are not there for it.

    By-id loads (every entry point: node, root fields, foreign keys) check visibility;
    relations check it only where they lead from shared rows into conversations
    (`Relation.checks_access`), since a visible parent's children are visible.
    """

    def __init__(self, session_factory: RowSessionFactory, principal: Principal) -> None:
        self.session_factory = session_factory
        self.principal = principal
        self._cache: dict[Hashable, DataLoader[Any, Any]] = {}

    async def fetch(self, statement: Select[*tuple[Any, ...]]) -> Sequence[Any]:
        """Row tuples, whatever the statement selects (one entity included)."""
        async with self.session_factory() as session:
            return (await session.execute(statement)).all()

    def _loader(self, name: Hashable, load: Callable[[list[Any]], Awaitable[list[Any]]]) -> Any:
        loader = self._cache.get(name)
        if loader is None:
            loader = self._cache[name] = DataLoader(load_fn=load)
        return loader

    def by_id(self, model: Any) -> DataLoader[uuid.UUID, Any]:
        """Rows by primary key; None for ids that do not exist."""

        async def load(ids: list[uuid.UUID]) -> list[Any]:
            rows = await self.fetch(
                select(model).where(model.id.in_(ids), *visible(model, self.principal))
            )
            found = {row[0].id: row[0] for row in rows}
            return [found.get(i) for i in ids]

        return self._loader(("by_id", model), load)

    def known(self, model: Any, rows: Sequence[Any]) -> None:
        """Rows a list read (first of each row tuple), for the by-id loader: a foreign
        key pointing among them (a span's parent in its trace, a reply's message)
        is then resolved without another query. They passed the list's visibility."""
        if not hasattr(model, "id"):  # rows keyed otherwise (a message's references)
            return
        by_id = self.by_id(model)
        for row in rows:
            by_id.prime(row[0].id, row[0])

    def rows_by(self, relation: Relation) -> DataLoader[uuid.UUID, list[Any]]:
        """Every row under each parent, in the relation's order (for short lists)."""

        async def load(parent_ids: list[uuid.UUID]) -> list[list[Any]]:
            statement = relation.select().where(
                relation.parent.in_(parent_ids), *self.access(relation)
            )
            rows = await self.fetch(statement.order_by(*relation.ordering.order_by(reverse=False)))
            self.known(relation.model, rows)
            return group(parent_ids, ((row[0], row[1]) for row in rows))

        return self._loader(("rows_by", relation), load)

    def page_by(self, relation: Relation) -> DataLoader[tuple[uuid.UUID, PageRequest], Page[Any]]:
        """One page under each parent; keys sharing a page request share one query."""

        async def load(keys: list[tuple[uuid.UUID, PageRequest]]) -> list[Page[Any]]:
            return await self.pages(relation, keys, ())

        return self._loader(("page_by", relation), load)

    async def pages(
        self,
        relation: Relation,
        keys: list[tuple[uuid.UUID, PageRequest]],
        where: Sequence[Any],
    ) -> list[Page[Any]]:
        by_request: dict[PageRequest, list[uuid.UUID]] = defaultdict(list)
        for parent_id, request in keys:
            by_request[request].append(parent_id)
        pages: dict[tuple[uuid.UUID, PageRequest], Page[Any]] = {}
        for request, parent_ids in by_request.items():
            conditions = [*where, *self.access(relation)]
            rows = await self.fetch(
                partitioned_page_query(relation, parent_ids, conditions, request)
            )
            self.known(relation.model, rows)
            grouped = group(parent_ids, ((row[0], row[1]) for row in rows))
            for parent_id, parent_rows in zip(parent_ids, grouped, strict=True):
                pages[parent_id, request] = make_page(parent_rows, request, relation.ordering)
        return [pages[key] for key in keys]

    def count_by(self, relation: Relation) -> DataLoader[uuid.UUID, int]:
        """How many rows each parent has (a connection's totalCount)."""

        async def load(parent_ids: list[uuid.UUID]) -> list[int]:
            statement = relation.select().with_only_columns(relation.parent, func.count())
            rows = await self.fetch(
                statement.where(relation.parent.in_(parent_ids), *self.access(relation)).group_by(
                    relation.parent
                )
            )
            counts = {row[0]: row[1] for row in rows}
            return [counts.get(i, 0) for i in parent_ids]

        return self._loader(("count_by", relation), load)

    def access(self, relation: Relation) -> list[Any]:
        return visible(relation.model, self.principal) if relation.checks_access else []

    def custom(
        self, name: Hashable, load: Callable[[list[K]], Awaitable[list[V]]]
    ) -> DataLoader[K, V]:
        """A loader with its own batch function, cached under `name` for this request."""
        loader: DataLoader[K, V] = self._loader(name, load)
        return loader


def group(parent_ids: Sequence[uuid.UUID], pairs: Any) -> list[list[Any]]:
    grouped: dict[uuid.UUID, list[Any]] = {i: [] for i in parent_ids}
    for row, parent in pairs:
        grouped[parent].append(row)
    return [grouped[i] for i in parent_ids]
