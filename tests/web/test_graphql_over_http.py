"""The GraphQL-over-HTTP draft's MUST and SHOULD items for the response, each test named
after its item (https://graphql.github.io/graphql-over-http/draft/#sec-Response)."""

from __future__ import annotations

import httpx
import pytest

GRAPHQL_RESPONSE = "application/graphql-response+json"
LEGACY = "application/json"
TYPENAME = {"query": "{ __typename }"}
FIELD_ERROR = {"query": 'query { node(id: "%%% not base64") { id } }'}
# The spec's examples of a GraphQL request error, one per kind.
REQUEST_ERRORS = {
    "document parsing failure": {"query": "{"},
    "document validation failure": {"query": "{ noSuchField }"},
    "variable coercion failure": {
        "query": "query($id: ID!) { node(id: $id) { id } }",
        "variables": {"id": {"not": "an id"}},
    },
    "operation cannot be determined": {"query": "query A { __typename } query B { __typename }"},
}


async def post(http: httpx.AsyncClient, body: object, accept: str | None) -> httpx.Response:
    headers = {} if accept is None else {"accept": accept}
    request = http.build_request("POST", "/graphql", json=body, headers=headers)
    if accept is None:
        del request.headers["accept"]  # httpx sends */* unless told otherwise
    return await http.send(request)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


async def test_must_support_requests_that_accept_application_json(http: httpx.AsyncClient) -> None:
    response = await post(http, TYPENAME, LEGACY)
    assert response.status_code == 200
    assert media_type(response) == LEGACY
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_must_support_requests_that_accept_graphql_response_json(
    http: httpx.AsyncClient,
) -> None:
    response = await post(http, TYPENAME, GRAPHQL_RESPONSE)
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_should_indicate_the_encoding_utf_8(http: httpx.AsyncClient) -> None:
    response = await post(http, {"query": '{ __type(name: "Query") { description } }'}, None)
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"


async def test_without_accept_should_treat_it_as_accepting_graphql_response_json(
    http: httpx.AsyncClient,
) -> None:
    response = await post(http, TYPENAME, None)
    assert media_type(response) == GRAPHQL_RESPONSE


async def test_a_wildcard_alone_gets_the_legacy_type_the_servers_choice(
    http: httpx.AsyncClient,
) -> None:
    # curl, fetch, requests and httpx send */*; the spec leaves the choice to the server.
    response = await post(http, REQUEST_ERRORS["document validation failure"], "*/*")
    assert media_type(response) == LEGACY
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (f"{GRAPHQL_RESPONSE}, {LEGACY}", GRAPHQL_RESPONSE),
        (f"{LEGACY}, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{LEGACY};q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, {LEGACY}", LEGACY),
        (f"{GRAPHQL_RESPONSE};q=0, */*", LEGACY),
        (f"{LEGACY};q=0, */*;q=0.1", GRAPHQL_RESPONSE),
        (f"text/html, {GRAPHQL_RESPONSE};charset=utf-8;q=0.8", GRAPHQL_RESPONSE),
        ("application/*", LEGACY),
    ],
)
async def test_must_respect_accept_and_use_its_highest_priority_supported_type(
    http: httpx.AsyncClient, accept: str, expected: str
) -> None:
    response = await post(http, TYPENAME, accept)
    assert response.status_code == 200
    assert media_type(response) == expected


@pytest.mark.parametrize(
    "accept",
    ["text/html", "application/xml, text/plain;q=0.5", f"{LEGACY};q=0", f"{LEGACY};charset=utf-16"],
)
async def test_accept_without_a_supported_type_is_406_not_acceptable(
    http: httpx.AsyncClient, accept: str
) -> None:
    response = await post(http, TYPENAME, accept)
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    assert "data" not in response.json()


@pytest.mark.parametrize("kind", REQUEST_ERRORS)
async def test_graphql_response_json_request_error_is_400_without_data(
    http: httpx.AsyncClient, kind: str
) -> None:
    response = await post(http, REQUEST_ERRORS[kind], GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"]


@pytest.mark.parametrize("kind", ["document parsing failure", "document validation failure"])
async def test_application_json_request_error_stays_200_with_null_data(
    http: httpx.AsyncClient, kind: str
) -> None:
    response = await post(http, REQUEST_ERRORS[kind], LEGACY)
    assert response.status_code == 200
    assert media_type(response) == LEGACY
    assert response.json()["data"] is None


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, LEGACY])
async def test_field_errors_during_execution_should_be_200_with_data(
    http: httpx.AsyncClient, accept: str
) -> None:
    response = await post(http, FIELD_ERROR, accept)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"node": None}
    assert body["errors"][0]["path"] == ["node"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "content",
    ["NONSENSE", '{"query":', '{"qeury": "{__typename}"}', '{"query": "{ a }", "variables": [7]}'],
)
async def test_a_request_that_is_not_well_formed_should_be_400(
    http: httpx.AsyncClient, content: str
) -> None:
    headers = {"accept": GRAPHQL_RESPONSE, "content-type": LEGACY}
    response = await http.post("/graphql", content=content, headers=headers)
    assert response.status_code == 400
    assert media_type(response) == GRAPHQL_RESPONSE
    assert "data" not in response.json()


async def test_get_queries_negotiate_as_post_does(http: httpx.AsyncClient) -> None:
    headers = {"accept": GRAPHQL_RESPONSE, "x-threadline-csrf": "1"}
    ok = await http.get("/graphql", params=TYPENAME, headers=headers)
    assert (ok.status_code, media_type(ok)) == (200, GRAPHQL_RESPONSE)
    failed = await http.get("/graphql", params={"query": "{ noSuchField }"}, headers=headers)
    assert failed.status_code == 400
    assert "data" not in failed.json()


async def test_must_not_execute_mutations_sent_with_get(http: httpx.AsyncClient) -> None:
    params = {"query": 'mutation { createConversation(input: {title: "x"}) { id } }'}
    headers = {"accept": GRAPHQL_RESPONSE, "x-threadline-csrf": "1"}
    response = await http.get("/graphql", params=params, headers=headers)
    assert response.status_code == 405
    assert media_type(response) == GRAPHQL_RESPONSE


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, LEGACY])
async def test_csrf_rules_are_unchanged_under_either_type(
    http: httpx.AsyncClient, accept: str
) -> None:
    text_post = await http.post(
        "/graphql",
        content='{"query": "{ __typename }"}',
        headers={"accept": accept, "content-type": "text/plain"},
    )
    bare_get = await http.get("/graphql", params=TYPENAME, headers={"accept": accept})
    for response in (text_post, bare_get):
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_PREVENTED"
        assert media_type(response) == accept


async def test_the_graphiql_page_is_not_negotiated(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert media_type(response) == "text/html"
