"""Apps with limits of their own, on the test database (migrated by the `app` fixture)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from config import Settings
from resolvers.errors import RETRY_AFTER_SECONDS
from tests.web.browser_gate import require_browser
from web.app import create_app

# Small enough to reach with a few characters; production-like switches.
LIMITS: dict[str, Any] = {
    "max_query_depth": 3,
    "max_aliases": 2,
    "max_query_tokens": 60,
    "max_body_bytes": 1000,
    "default_page_size": 5,
    "max_page_size": 5,
    "introspection": False,
    "graphiql": False,
}


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before the test's fixtures (servers, databases) are set up.
    if "chromium" in getattr(item, "fixturenames", ()):
        require_browser(os.environ)


@asynccontextmanager
async def client_of(application: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://threadline.test") as client:
        yield client


@asynccontextmanager
async def app_with(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second app on the test database, its settings changed as given."""
    application = create_app(replace(settings, auto_migrate=False, **changes))
    async with LifespanManager(application), client_of(application) as client:
        yield client


@pytest.fixture(scope="module")
async def limited_app(app: Starlette, settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(replace(settings, auto_migrate=False, **LIMITS))
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def limited(
    limited_app: Starlette, http: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with LIMITS, on an empty database."""
    async with client_of(limited_app) as client:
        yield client


def only_error(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The single error of a GraphQL-shaped answer with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    error: dict[str, Any] = errors[0]
    assert set(error) <= {"message", "locations", "path", "extensions"}, error
    return error


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    """The single UNAVAILABLE error of a 503 answer that asks to retry in a second."""
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    [error] = response.json()["errors"]
    request_id = error["extensions"]["requestId"]
    assert error["extensions"] == {
        "code": "UNAVAILABLE",
        "requestId": request_id,
        "retryAfter": RETRY_AFTER_SECONDS,
    }
    assert len(request_id) == 32
    assert error["message"] == (
        f"The database is unavailable right now; retry in a moment (request id {request_id})"
    )
    return error
