"""One chain for every test: settings -> database -> app (lifespan run) -> client.

Every GraphQL test runs on SQLite, and again on PostgreSQL when
TEST_DATABASE_URL is set (a database of its own is created on that server for
the run and dropped afterwards). TEST_BROADCAST_URL selects the broadcast backend.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from sqlalchemy import event, text, update
from starlette.applications import Starlette

import models
from config import Settings
from tests.databases import fresh_database
from tests.graphql_client import GraphQLClient
from tests.identities import JWT_SECRET
from tests.ws_client import GraphQLWebSocket, connect
from web.app import create_app

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
BROADCAST_URL = os.environ.get("TEST_BROADCAST_URL", "memory://")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        if item.get_closest_marker("postgres_only") and backend == "sqlite":
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL"))


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "threadline.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    assert POSTGRES_URL is not None
    async with fresh_database(POSTGRES_URL) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # No background sweeper: its statements would land in other tests' counts
    # (tests/schema/test_retention.py sweeps when it means to).
    return Settings(
        database_url=database_url, broadcast_url=BROADCAST_URL, sweep_interval_seconds=0
    )


# The first app of a run migrates its fresh database: on a loaded machine that takes
# longer than asgi-lifespan's default of 5 s.
STARTUP_S = 120


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=STARTUP_S):
        yield application


@pytest.fixture(scope="session")
async def secured_app(settings: Settings) -> AsyncIterator[Starlette]:
    """The app with authentication on (HS256 JWTs and API keys), on the same database."""
    application = create_app(replace(settings, jwt_secret=JWT_SECRET))
    async with LifespanManager(application, startup_timeout=STARTUP_S):
        yield application


async def _empty_tables(application: Starlette) -> None:
    async with application.state.engine.begin() as connection:
        for table in reversed(models.metadata.sorted_tables):
            # A chain of parents deeper than SQLite's 1000 levels of cascade (a test's
            # failure can leave one) fails a one-statement delete: unlink it first.
            for key in table.foreign_keys:
                if key.column.table is table:
                    column = key.parent
                    unlinked = update(table).where(column.is_not(None)).values({column.name: None})
                    await connection.execute(unlinked)
            await connection.execute(text(f"DELETE FROM {table.name}"))


@asynccontextmanager
async def _client(application: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    await _empty_tables(application)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://threadline.test") as client:
        yield client


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client on an empty database."""
    async with _client(app) as client:
        yield client


@pytest.fixture
async def secured_http(secured_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client (sending no credential by itself) of the secured app, on an empty
    database."""
    async with _client(secured_app) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Transaction control (SQLite's explicit BEGIN) is not a query.
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


async def wait_started(server: uvicorn.Server) -> None:
    # uvicorn offers no event to wait on; poll its flag, for at most ten seconds.
    for _ in range(1000):
        if server.started:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("uvicorn did not start")


@asynccontextmanager
async def served(app: Starlette) -> AsyncIterator[str]:
    """The app served by uvicorn on a free port (its lifespan already runs), for WebSockets."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_started(server)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}/graphql"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def server_url(app: Starlette) -> AsyncIterator[str]:
    async with served(app) as url:
        yield url


@pytest.fixture(scope="session")
async def secured_server_url(secured_app: Starlette) -> AsyncIterator[str]:
    async with served(secured_app) as url:
        yield url


@pytest.fixture
async def ws(server_url: str, http: httpx.AsyncClient) -> AsyncIterator[GraphQLWebSocket]:
    """A graphql-transport-ws connection to the served app (on an empty database)."""
    async with connect(server_url) as client:
        yield client


@pytest.fixture
def sql(app: Starlette) -> Iterator[StatementCounter]:
    """Counts the SQL statements the app sends while the test runs."""
    counter = StatementCounter()
    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)
