"""The viewer at / and GraphiQL at /graphql: served from the app's own files, and every
GraphQL document in their JavaScript (and the simulator's) valid against the schema."""

from __future__ import annotations

import re

import httpx
import pytest
from graphql import parse, validate
from starlette.applications import Starlette

from agent_sim import agent
from config import Settings
from schema import build_schema
from tests.web.conftest import app_with
from web.pages import CSP, STATIC

SCHEMA = build_schema()

OPERATION = re.compile(r"^\s*(#[^\n]*\n\s*)*(query|mutation|subscription)\b")
SCRIPTS = sorted(STATIC.glob("*.js"))


def documents(source: str) -> list[str]:
    """The template literals of a script that are GraphQL operations."""
    return [text for text in re.findall(r"`([^`]*)`", source) if OPERATION.match(text)]


SIMULATOR = [value for value in vars(agent).values() if isinstance(value, str)]
EXAMPLES = [d for path in SCRIPTS for d in documents(path.read_text())]
EXAMPLES += [d for d in SIMULATOR if OPERATION.match(d)]


def test_the_pages_hold_examples_of_every_kind() -> None:
    graphiql = documents((STATIC / "graphiql-page.js").read_text())
    kinds = [match.group(2) for d in graphiql if (match := OPERATION.match(d))]
    assert kinds == ["query", "query", "query", "subscription"]  # deep, aggregate, failures, live
    assert len(EXAMPLES) > 20


@pytest.mark.parametrize("document", EXAMPLES, ids=lambda d: d.split("{")[0].strip()[-40:])
def test_every_document_is_valid(document: str) -> None:
    errors = validate(SCHEMA._schema, parse(document))
    assert errors == [], errors


@pytest.mark.parametrize(
    "path", ["/", "/static/viewer.js", "/graphiql/graphiql.js", "/graphiql/react.js"]
)
async def test_pages_and_their_files_are_served(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200, response.text


async def test_the_graphiql_page_loads_nothing_from_elsewhere(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CSP
    assert not re.search(r"(src|href)=\"(https?:)?//", response.text)
    assert '<script src="/graphiql/graphiql.js">' in response.text


async def test_the_viewer_page_may_only_reach_its_own_origin(http: httpx.AsyncClient) -> None:
    response = await http.get("/")
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    assert '<script src="/static/viewer.js">' in response.text


async def test_only_graphiqls_own_files_are_served(http: httpx.AsyncClient) -> None:
    assert (await http.get("/graphiql/package.json")).status_code == 404
    assert (await http.get("/graphiql/..%2Fpackage.json")).status_code == 404


async def test_graphiqls_files_go_with_graphiql(app: Starlette, settings: Settings) -> None:
    async with app_with(settings, graphiql=False) as client:
        assert (await client.get("/graphiql/graphiql.js")).status_code == 404
        assert (await client.get("/")).status_code == 200  # the viewer stays
