"""The PostgreSQL pool of the app follows the DATABASE_POOL_* settings: measured by the
connections the engine opens while clients read through /graphql."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from config import Settings
from tests import factories
from tests.graphql_client import GraphQLClient
from web.app import create_app

pytestmark = pytest.mark.postgres_only

# The conversation list page of issue 22 (its sibling fields and the last messages'
# loader read concurrently, on connections of their own).
LIST_PAGE = """{ conversations(first: 50) {
  totalCount nodes { id title lastMessage { id content } } } }"""
CLIENTS = 8
ROUNDS = 5


@dataclass
class PooledApp:
    """A client of an app of its own, its engine, and the connections the engine opened
    since `opened` was last reset."""

    gql: GraphQLClient
    engine: AsyncEngine
    opened: int = 0

    def count_connect(self, *_args: Any) -> None:
        self.opened += 1


@asynccontextmanager
async def app_for(settings: Settings) -> AsyncIterator[PooledApp]:
    application: Starlette = create_app(settings)
    transport = httpx.ASGITransport(app=application)
    http = httpx.AsyncClient(transport=transport, base_url="http://threadline.test")
    async with LifespanManager(application), http:
        pooled = PooledApp(GraphQLClient(http), application.state.engine)
        event.listen(pooled.engine.sync_engine, "connect", pooled.count_connect)
        yield pooled


async def read_list_pages(gql: GraphQLClient) -> None:
    """CLIENTS list pages at once."""
    pages = await asyncio.gather(*(gql.data(LIST_PAGE) for _ in range(CLIENTS)))
    assert all(page["conversations"]["totalCount"] >= 3 for page in pages)


async def connections_opened_per_round(
    settings: Settings, size: int, overflow: int
) -> tuple[int, int]:
    """Connections opened by the first round of CLIENTS concurrent list pages (warm-up)
    and by the ROUNDS - 1 rounds after it, with a pool of `size` + `overflow`."""
    pooled = replace(settings, database_pool_size=size, database_max_overflow=overflow)
    async with app_for(pooled) as served:
        for n in range(3):
            conversation = await factories.conversation(served.gql, title=f"c{n}")
            await factories.message(served.gql, conversation["id"])
        served.opened = 0
        await read_list_pages(served.gql)
        warm_up = served.opened
        for _ in range(ROUNDS - 1):
            await read_list_pages(served.gql)
        return warm_up, served.opened - warm_up


async def test_a_pool_without_overflow_opens_its_connections_once(settings: Settings) -> None:
    warm_up, after = await connections_opened_per_round(settings, size=3, overflow=0)
    assert 1 <= warm_up <= 3
    assert after == 0


async def test_overflow_connections_are_opened_again_for_every_burst(settings: Settings) -> None:
    # Why the default has no overflow: SQLAlchemy closes an overflow connection when it
    # is returned, so every burst past the pool opens its connections anew.
    warm_up, after = await connections_opened_per_round(settings, size=1, overflow=CLIENTS)
    assert warm_up > 1
    assert after >= ROUNDS - 1


async def test_a_request_that_waits_too_long_for_a_connection_is_unavailable(
    settings: Settings,
) -> None:
    single = replace(
        settings,
        database_pool_size=1,
        database_max_overflow=0,
        database_pool_timeout_seconds=0.2,
    )
    async with app_for(single) as served, served.engine.connect() as held:
        await held.exec_driver_sql("SELECT 1")
        response = await served.gql.http.post("/graphql", json={"query": LIST_PAGE})
    assert response.status_code == 503
    assert {e["extensions"]["code"] for e in response.json()["errors"]} == {"UNAVAILABLE"}


@pytest.mark.parametrize(("recycle_seconds", "replaced"), [(0, 0), (1, 1)])
async def test_connections_older_than_the_recycle_age_are_replaced(
    settings: Settings, recycle_seconds: int, replaced: int
) -> None:
    recycled = replace(
        settings, database_pool_size=1, database_pool_recycle_seconds=recycle_seconds
    )
    async with app_for(recycled) as served:
        await served.gql.data(LIST_PAGE)
        served.opened = 0
        await asyncio.sleep(1.1)
        await served.gql.data(LIST_PAGE)
    assert served.opened == replaced
