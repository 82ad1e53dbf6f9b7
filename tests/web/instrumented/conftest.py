"""The fake provider (one for the session, its replies forgotten per test) and each test's
telemetry, exporting to the served app on an empty database."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.web.instrumented import fake_provider
from tests.web.instrumented.fake_provider import FakeProvider
from tests.web.instrumented.harness import Telemetry, recording


@pytest.fixture(scope="session")
def served_provider() -> Iterator[FakeProvider]:
    with fake_provider.serving() as provider:
        yield provider


@pytest.fixture
def provider(served_provider: FakeProvider) -> FakeProvider:
    served_provider.replies.clear()
    return served_provider


@pytest.fixture
def threadline(server_url: str, http: httpx.AsyncClient) -> str:
    """The served app's base URL, once `http` has emptied the database."""
    return server_url.replace("ws://", "http://").removesuffix("/graphql")


@pytest.fixture
def telemetry(threadline: str) -> Iterator[Telemetry]:
    with recording(threadline) as providers:
        yield providers
