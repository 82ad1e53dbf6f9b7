"""Depth, aliases, tokens, page size, introspection and GraphiQL, each from settings."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from starlette.applications import Starlette
from strawberry.extensions.validation_cache import DEFAULT_MAXSIZE, _get_validate_cache

from config import Settings
from schema import build_schema
from tests.conftest import served
from tests.web.conftest import LIMITS, only_error
from tests.ws_client import connect

VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
# Seconds after which a request that should answer at once is taken to hang.
HANG = 30
ALIASES = "The document has more than 2 aliases (a fragment's count again at each spread)"
# Depth 3: conversations > edges > node.
DEPTH_3 = "{ conversations { edges { node { id } } } }"
DEPTH_4 = "{ conversations { edges { node { messages { totalCount } } } } }"


async def post(client: httpx.AsyncClient, query: str, **payload: Any) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, **payload})


async def test_a_query_as_deep_as_the_limit_runs(limited: httpx.AsyncClient) -> None:
    response = await post(limited, DEPTH_3)
    assert response.json() == {"data": {"conversations": {"edges": []}}}


async def test_a_query_past_the_depth_limit_is_refused(limited: httpx.AsyncClient) -> None:
    error = only_error(await post(limited, DEPTH_4))
    assert error["message"] == "The anonymous operation is 4 levels deep, past the limit of 3"
    assert error["extensions"] == {"code": VALIDATION_FAILED}


async def test_fragments_count_towards_the_depth(limited: httpx.AsyncClient) -> None:
    query = """query Deep { conversations { ...C } }
    fragment C on ConversationConnection { edges { node { messages { totalCount } } } }"""
    error = only_error(await post(limited, query))
    assert error["message"] == "The 'Deep' operation is 4 levels deep, past the limit of 3"
    assert error["extensions"]["code"] == VALIDATION_FAILED


def doubling(levels: int, leaf: str) -> str:
    """Fragments each spreading the next one twice: `leaf` 2**levels times over."""
    spreads = "".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(levels)
    )
    return f"{{ ...F0 }}\n{spreads}fragment F{levels} on Query {{ {leaf} }}"


async def test_fragments_are_measured_once_however_often_they_are_spread(
    http: httpx.AsyncClient,
) -> None:
    # Strawberry's limiters walk a fragment at each spread: 2**40 walks, here, which
    # would take hours. The bound only tells a hang from an answer; it is no benchmark.
    response = await asyncio.wait_for(post(http, doubling(40, "__typename")), HANG)
    assert response.json() == {"data": {"__typename": "Query"}}
    error = only_error(await asyncio.wait_for(post(http, doubling(40, "a: __typename")), HANG))
    assert error["message"] == (
        "The document has more than 50 aliases (a fragment's count again at each spread)"
    )


@pytest.mark.parametrize(
    ("query", "data"), [("{}", {}), ("{ conversations {} }", {"conversations": {}})]
)
async def test_empty_selections_are_measured(
    limited: httpx.AsyncClient, query: str, data: dict[str, Any]
) -> None:
    # graphql-core 3.3 reads them; Strawberry's depth rule fails on them (max of nothing).
    assert (await post(limited, query)).json() == {"data": data}


async def test_a_spread_of_an_unknown_fragment_is_invalid_not_a_crash(
    limited: httpx.AsyncClient,
) -> None:
    # Strawberry's depth rule looks fragments up without checking they exist.
    error = only_error(await post(limited, "{ conversations { ...Unknown } }"))
    assert error["message"] == "Unknown fragment 'Unknown'."
    assert error["extensions"] == {"code": VALIDATION_FAILED}


async def test_aliases_past_the_limit_are_refused(limited: httpx.AsyncClient) -> None:
    assert (await post(limited, "{ a: __typename b: __typename }")).json() == {
        "data": {"a": "Query", "b": "Query"}
    }
    error = only_error(await post(limited, "{ a: __typename b: __typename c: __typename }"))
    assert error["message"] == ALIASES
    assert error["extensions"] == {"code": VALIDATION_FAILED}


async def test_aliases_in_fragments_count(limited: httpx.AsyncClient) -> None:
    query = "{ a: __typename ...F } fragment F on Query { b: __typename c: __typename }"
    error = only_error(await post(limited, query))
    assert error["message"] == ALIASES


async def test_a_document_past_the_token_limit_is_refused(limited: httpx.AsyncClient) -> None:
    fits = "{ " + "__typename " * (LIMITS["max_query_tokens"] - 2) + "}"
    assert (await post(limited, fits)).json() == {"data": {"__typename": "Query"}}
    too_long = "{ " + "__typename " * (LIMITS["max_query_tokens"] - 1) + "}"
    error = only_error(await post(limited, too_long))
    # graphql-core says "Syntax Error: ..." of a well-formed document: it is too big,
    # and refused as the other limits are.
    assert error["message"] == "Document contains more than 60 tokens. Parsing aborted."
    assert error["extensions"] == {"code": VALIDATION_FAILED}


async def test_comments_count_as_tokens(limited: httpx.AsyncClient) -> None:
    query = "#\n" * LIMITS["max_query_tokens"] + "{ __typename }"
    error = only_error(await post(limited, query))
    assert error["extensions"]["code"] == VALIDATION_FAILED


async def test_a_document_nested_past_what_the_parser_can_read_is_refused(
    http: httpx.AsyncClient,
) -> None:
    # Deeper than Python's recursion allows: refused by the parser, with the same code.
    query = "{" + "conversations {" * 400 + "id" + "}" * 400 + "}"
    error = only_error(await post(http, query))
    assert error["message"] == "Document is nested too deeply. Parsing aborted."
    assert error["extensions"] == {"code": VALIDATION_FAILED}


async def test_a_page_past_the_maximum_size_is_refused(limited: httpx.AsyncClient) -> None:
    assert (await post(limited, "{ conversations(first: 5) { totalCount } }")).status_code == 200
    error = only_error(await post(limited, "{ conversations(first: 6) { totalCount } }"))
    assert error["message"] == "page size 6 is above the maximum of 5"
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}


@pytest.mark.parametrize(
    "query", ["{ __schema { queryType { name } } }", '{ __type(name: "Query") { name } }']
)
async def test_introspection_can_be_switched_off(limited: httpx.AsyncClient, query: str) -> None:
    response = await post(limited, query)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    # One error per introspection field asked for.
    assert "introspection has been disabled" in body["errors"][0]["message"]
    assert {e["extensions"]["code"] for e in body["errors"]} == {VALIDATION_FAILED}
    # __typename is not introspection: clients (and unions) need it.
    assert (await post(limited, "{ __typename }")).json() == {"data": {"__typename": "Query"}}


async def test_graphiql_can_be_switched_off(limited: httpx.AsyncClient) -> None:
    response = await limited.get("/graphql", headers={"accept": "text/html"})
    error = only_error(response, 404)
    assert error["extensions"] == {"code": "NOT_FOUND"}


async def test_graphiqls_introspection_fits_the_default_limits(http: httpx.AsyncClient) -> None:
    # Its TypeRef fragment nests ofType eight deep: the depth limit skips introspection
    # fields, and its ~1000 tokens fit. JSON inputs default to null (printable; {} in code).
    response = await post(http, get_introspection_query(descriptions=True))
    body = response.json()
    assert "errors" not in body, body["errors"][:3]
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    defaults = {
        (kind["name"], field["name"]): field["defaultValue"]
        for kind in body["data"]["__schema"]["types"]
        for field in kind["inputFields"] or []
    }
    assert defaults[("SendMessageInput", "metadata")] == "null"


async def test_the_limits_hold_on_what_validation_cached(limited: httpx.AsyncClient) -> None:
    # The limit rules are made once per schema, so ValidationCache recognises a
    # document sent again (rules made per request would miss every time)...
    cache: Any = _get_validate_cache(DEFAULT_MAXSIZE)  # an lru_cache, typed as Callable
    query = '{ a: conversations(filter: {titleContains: "cached"}) { totalCount } }'
    before = cache.cache_info()
    for _ in range(2):
        assert (await post(limited, query)).json() == {"data": {"a": {"totalCount": 0}}}
    after = cache.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    # ...and still refuses a document past a limit the second time.
    for _ in range(2):
        only_error(await post(limited, DEPTH_4))


async def test_subscriptions_are_held_to_the_limits(
    limited_app: Starlette, http: httpx.AsyncClient
) -> None:
    async with served(limited_app) as url, connect(url) as ws:
        query = "subscription { conversationsActivity { a: seq b: seq c: seq } }"
        message = await ws.message(await ws.subscribe(query))
    assert message["type"] == "error"
    [error] = message["payload"]
    assert error["message"] == ALIASES
    assert error["extensions"] == {"code": VALIDATION_FAILED}


def test_the_default_schema_is_the_exported_one() -> None:
    # Limits change what a document may ask, not the schema: the SDL is the same.
    limited = build_schema(Settings(**LIMITS))
    assert limited.as_str() == build_schema().as_str()
