"""Fuzzing /graphql: random and malformed requests never get a server fault.

Whatever a client sends (schema-aware operations with valid, forged and malformed
arguments, as literals or as variables; random documents, variables and operation
names; bodies that are not JSON, or JSON of the wrong shape; GET query strings),
every response must be one a client can act on:

- no 5xx status;
- no traceback, source path or internal exception name in the body;
- a JSON body's `errors` each carry `extensions.code`, never INTERNAL_SERVER_ERROR
  (the masked form of an unexpected exception: the fuzzer found a bug);
- nothing logged at ERROR by the app's own loggers ("threadline...").

Every test runs against a seeded graph (created through the API with known ids), so
generated ids, cursors and strings hit rows that exist and reach the resolvers.
Examples are derandomized (the same ones on every run) and no example database is
written. For a deeper local search, THREADLINE_FUZZ_SCALE=10 runs ten times as many,
and THREADLINE_FUZZ_RANDOM=1 other ones on every run.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from tests import fuzz_strategies as fz
from tests.graphql_client import GraphQLClient

SCALE = float(os.environ.get("THREADLINE_FUZZ_SCALE", "1"))
# Other examples on every run, for a local search (a failure prints its reproduction).
RANDOM = os.environ.get("THREADLINE_FUZZ_RANDOM", "") not in ("", "0")


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=max(1, round(examples * SCALE)),
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        print_blob=RANDOM,
        suppress_health_check=[
            # One seeded graph (and one client) serves every example of a test.
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# Names that only a leaked exception would put in a response.
LEAKS = (
    "Traceback",
    'File "',
    "site-packages",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "sqlite3",
    "IntegrityError",
    "OperationalError",
    "ProgrammingError",
    "DataError",
    "InterfaceError",
    "StatementError",
    "RecursionError",
    "AttributeError",
    "KeyError",
    "IndexError",
    "TypeError",
    "OverflowError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "ZeroDivisionError",
    "AssertionError",
    "NoneType",
    "object has no attribute",
)


APP_LOG = "threadline"


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def describe(request: fz.RawRequest) -> str:
    body = request.body[:2000].decode("utf-8", "backslashreplace")
    return f"{request.method} params={list(request.params)!r} headers={request.headers} body={body}"


async def send(http: httpx.AsyncClient, log: ErrorLog, request: fz.RawRequest) -> httpx.Response:
    """Send one request and check its response; returns it for further checks."""
    log.records.clear()
    built = http.build_request(
        request.method,
        "/graphql",
        content=request.body or None,
        params=list(request.params),
        headers=request.headers,
    )
    try:
        response = await http.send(built)
    except Exception as exc:  # the ASGI transport re-raises what the app did not handle
        raise AssertionError(f"the app raised {exc!r} (a 500) on {describe(request)}") from exc
    check(response, request, log)
    return response


def check(response: httpx.Response, request: fz.RawRequest, log: ErrorLog) -> None:
    where = f"\n{describe(request)}\n-> {response.status_code} {response.text[:2000]}"
    assert response.status_code < 500, f"server fault{where}"
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} leaked{where}"
    # Our loggers' errors ("unexpected error", masked as INTERNAL_SERVER_ERROR, among
    # them) are faults. Strawberry logs every error of a response, expected ones too;
    # asyncio logs what the garbage collector finds (a driver's failed connection
    # attempt), whichever request is running then: those only explain a failure.
    logged = [f"{r.name}: {r.getMessage()}" for r in log.records if r.name.startswith(APP_LOG)]
    assert not logged, f"logged at ERROR: {logged}{where}"
    where += "".join(f"\nlogged: {r.getMessage()}" for r in log.records)[:4000]
    if request.may_be_refused and 400 <= response.status_code < 500:
        return
    try:
        body = response.json()
    except ValueError:
        # Strawberry answers a request it cannot read in plain text (a 4xx), a GET
        # without a query with the GraphiQL page, and a PUT with a graphql-sse
        # reservation's token (single connection mode, web/sse_single.py).
        reserved = request.method == "PUT" and response.status_code == 201
        assert response.status_code >= 400 or request.method == "GET" or reserved, (
            f"not JSON{where}"
        )
        return
    if not isinstance(body, dict) or "errors" not in body:
        return
    errors = body["errors"]
    assert isinstance(errors, list), f"errors not a list{where}"
    assert errors, f"empty errors{where}"
    for error in errors:
        assert isinstance(error.get("message"), str), f"error without a message{where}"
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str), f"error without extensions.code{where}"
        assert code != "INTERNAL_SERVER_ERROR", f"internal error{where}"


# --- The seeded graph ----------------------------------------------------------------

SESSION = "mutation($i: StartAgentSessionInput!) { startAgentSession(input: $i) { id } }"
SETTINGS = "mutation($i: ChatSettingsInput!) { upsertChatSettings(input: $i) { userId } }"
EVERYTHING = """{
  conversations(filter: {statuses: [ACTIVE, ARCHIVED, CLOSED]}) { edges { cursor node {
    id lastEventCursor ownerId tags participants { id participantId }
    messages(allBranches: true) { edges { cursor node { id senderId toolCalls { id callId } } } }
    plans { edges { cursor node { id steps { id } } } }
    traces { edges { cursor node { id sessionId userId
      spans { edges { cursor node { id name } } } } } }
    agentSessions { id profileName } } } }
  components { edges { cursor node { id key versions { id contentHash } } } }
}"""


def collect(value: Any, key: str = "") -> None:
    """Every id, cursor and other string of a response, into the strategies' pools."""
    if isinstance(value, dict):
        for k, v in value.items():
            collect(v, k)
    elif isinstance(value, list):
        for v in value:
            collect(v, key)
    elif isinstance(value, str):
        pool = fz.KNOWN.strings
        if key == "id":
            pool = fz.KNOWN.ids
        elif "cursor" in key.lower():
            pool = fz.KNOWN.cursors
        if value not in pool:
            pool.append(value)


@pytest.fixture
async def seeded(http: httpx.AsyncClient) -> GraphQLClient:
    """A small graph of every kind of row, created through the API; its ids in KNOWN."""
    gql = GraphQLClient(http)
    fz.KNOWN.clear()
    conv = (await factories.conversation(gql, title="fuzz", tags=["t1"], metadata={"k": [1]}))["id"]
    other = (await factories.conversation(gql, title="other"))["id"]
    await gql.data("mutation($id: ID!) { archiveConversation(id: $id) { id } }", {"id": other})
    tool_call = {"callId": "call-1", "toolName": "search", "arguments": {"q": "x"}}
    first = (await factories.message(gql, conv, toolCalls=[tool_call]))["id"]
    answer = await factories.message(
        gql, conv, senderId="agent-1", senderType="AGENT", role="ASSISTANT", content="hi"
    )
    await factories.message(gql, conv, content="a branch", parentMessageId=first)
    await factories.plan(gql, conv, [[], [0], [0, 1]])
    trace = (await factories.trace(gql, conv, messageId=answer["id"], sessionId="s-1"))["id"]
    root = (await factories.span(gql, trace, kind="LLM"))["id"]
    child = (await factories.span(gql, trace, parentSpanId=root))["id"]
    await factories.end_span(gql, child, inputTokens=3, outputTokens=4, cost=0.5)
    await factories.component_version(gql, "prompt-1", {"text": "hello"})
    await factories.component_version(gql, "prompt-1", {"text": "hello again"})
    await gql.data(SESSION, {"i": {"conversationId": conv, "profileName": "agent-1"}})
    await gql.data(SETTINGS, {"i": {"enabledTools": ["search"], "temperature": 0.5}})
    collect(await gql.data(EVERYTHING))
    fz.KNOWN.strings.extend(["dev", "user-1", "agent-1", "prompt-1"])
    assert len(fz.KNOWN.ids) > 15, fz.KNOWN
    assert fz.KNOWN.cursors, fz.KNOWN
    return gql


# --- Schema-aware operations ---------------------------------------------------------


@st.composite
def operations(draw: st.DrawFn, documents: st.SearchStrategy[str]) -> fz.RawRequest:
    """A generated operation, its arguments written inline or sent as (mangled) variables."""
    document = draw(documents.flatmap(fz.retargeted))
    variables: dict[str, Any] | None = None
    how = draw(st.sampled_from(["inline", "variables", "mangled"]))
    if how != "inline":
        document, variables = fz.with_variables(document)
        if how == "mangled":
            variables = draw(fz.mangled_variables(variables))
    payload: dict[str, Any] = {"query": document, "variables": variables}
    names = fz.operation_names(document)
    # Mostly the right name (or none): the other tests send names of every kind.
    name = draw(fz.rarely(st.sampled_from([None, *names]), fz.JSON_VALUES))
    if name is not None:
        payload["operationName"] = name
    return fz.post(payload)


@fuzz_settings(120)
@given(request=operations(fz.queries()))
async def test_generated_queries(
    seeded: GraphQLClient, error_log: ErrorLog, request: fz.RawRequest
) -> None:
    await send(seeded.http, error_log, request)


@fuzz_settings(120)
@given(request=operations(fz.single_mutations() | fz.mutations()))
async def test_generated_mutations(
    seeded: GraphQLClient, error_log: ErrorLog, request: fz.RawRequest
) -> None:
    await send(seeded.http, error_log, request)


@fuzz_settings(80)
@given(
    request=operations(
        fz.queries(mode=fz.gql_st.Mode.NEGATIVE) | fz.mutations(mode=fz.gql_st.Mode.NEGATIVE)
    )
)
async def test_generated_invalid_operations(
    seeded: GraphQLClient, error_log: ErrorLog, request: fz.RawRequest
) -> None:
    """Operations with one violation of the schema (a wrong type, a missing argument...)."""
    await send(seeded.http, error_log, request)


# --- Malformed requests --------------------------------------------------------------


@fuzz_settings(120)
@given(query=fz.QUERY_TEXTS, variables=st.none() | fz.JSON_VALUES, name=st.none() | fz.JSON_VALUES)
async def test_random_documents(
    seeded: GraphQLClient, error_log: ErrorLog, query: str, variables: Any, name: Any
) -> None:
    await send(
        seeded.http,
        error_log,
        fz.post({"query": query, "variables": variables, "operationName": name}),
    )


@fuzz_settings(120)
@given(payload=fz.odd_payloads())
async def test_request_fields_of_any_type(
    seeded: GraphQLClient, error_log: ErrorLog, payload: dict[str, Any]
) -> None:
    await send(seeded.http, error_log, fz.post(payload))


@fuzz_settings(150)
@given(request=fz.raw_posts())
async def test_malformed_bodies(
    http: httpx.AsyncClient, error_log: ErrorLog, request: fz.RawRequest
) -> None:
    await send(http, error_log, request)


@fuzz_settings(120)
@given(request=fz.get_requests())
async def test_get_requests(
    seeded: GraphQLClient, error_log: ErrorLog, request: fz.RawRequest
) -> None:
    await send(seeded.http, error_log, request)


# --- Cases worth sending on every run ------------------------------------------------

CONVERSATIONS_AFTER = "query($a: String) { conversations(after: $a) { nodes { id } } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
MESSAGES = """query($c: ID!, $a: String, $b: String, $f: Int, $l: Int) { conversation(id: $c) {
  messages(allBranches: true, after: $a, before: $b, first: $f, last: $l) { nodes { id } } } }"""
FILTERED = "query($f: ConversationFilter) { conversations(filter: $f) { totalCount } }"
SEND = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id content } }"
TYPENAME = {"query": "{ __typename }"}
NESTED = fz.nested_lists(100_000)
# Out of range once in UTC: year 0 and year 10000.
BEFORE_YEAR_1 = "0001-01-01T00:00:00+05:00"
AFTER_YEAR_9999 = "9999-12-31T23:59:59-05:00"
LAST_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
CONVERSATION = "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }"
LONG = fz.LONG_TEXTS[-1]


def case(request: fz.RawRequest, name: str) -> Any:
    return pytest.param(request, id=name)


def get(*params: tuple[str, str], csrf: bool = True) -> fz.RawRequest:
    headers = dict(fz.CSRF) if csrf else {}
    return fz.RawRequest("GET", params=params, headers=headers, may_be_refused=not csrf)


EDGE_CASES = [
    case(
        fz.post({"query": '{ conversations(after: "garbage") { nodes { id } } }'}), "after-garbage"
    ),
    case(fz.post({"query": CONVERSATIONS_AFTER, "variables": {"a": "garbage"}}), "after-var"),
    case(
        fz.post({"query": CONVERSATIONS_AFTER, "variables": {"a": fz.cursor_of("x", "y")}}),
        "after-forged",
    ),
    case(
        fz.post(
            {"query": CONVERSATIONS_AFTER, "variables": {"a": fz.cursor_of(BEFORE_YEAR_1, LAST_ID)}}
        ),
        "after-year-0",
    ),
    case(
        fz.post(
            {
                "query": CONVERSATIONS_AFTER,
                "variables": {"a": fz.cursor_of(AFTER_YEAR_9999, LAST_ID)},
            }
        ),
        "after-year-10000",
    ),
    case(fz.post({"query": NODE, "variables": {"id": "garbage"}}), "id-garbage"),
    case(
        fz.post({"query": NODE, "variables": {"id": fz.global_id("Conversation", "garbage")}}),
        "id-not-uuid",
    ),
    case(fz.post({"query": NODE, "variables": {"id": "\ud800"}}), "id-surrogate"),
    case(fz.post({"query": NODE, "variables": {"id": "\x00"}}), "id-nul"),
    case(fz.post({"query": NODE, "variables": {"id": 10**400}}), "id-huge-int"),
    case(fz.post({"query": NODE, "variables": {"id": [[["x"]]]}}), "id-list"),
    case(
        fz.post({"query": "query($x: Int) { __typename }", "variables": {"x": 10**400}}), "int-huge"
    ),
    case(
        fz.post({"query": "query($x: Float) { __typename }", "variables": {"x": "NaN"}}),
        "float-NaN-str",
    ),
    case(
        fz.post({"query": "query($x: Float) { __typename }", "variables": {"x": float("nan")}}),
        "float-NaN",
    ),
    case(
        fz.post({"query": "query($x: Float) { __typename }", "variables": {"x": float("-inf")}}),
        "float-inf",
    ),
    case(fz.post_raw_variable("query($x: Float) { __typename }", "x", b"1e400"), "float-1e400"),
    case(
        fz.post({"query": "{ conversations(first: 99999999999999999999) { totalCount } }"}),
        "first-huge-literal",
    ),
    case(
        fz.post({"query": "{ conversations(first: " + "9" * 5000 + ") { totalCount } }"}),
        "first-5000-digits-literal",
    ),
    case(fz.post({"query": "{ conversations(first: -1) { totalCount } }"}), "first-negative"),
    case(
        fz.post({"query": "{ conversations(first: 1, last: 1) { totalCount } }"}), "first-and-last"
    ),
    case(
        fz.post({"query": FILTERED, "variables": {"f": {"createdAfter": BEFORE_YEAR_1}}}),
        "datetime-var-year-0",
    ),
    case(
        fz.post(
            {
                "query": "{ conversations(filter: {createdBefore: "
                + json.dumps(AFTER_YEAR_9999)
                + "}) { totalCount } }"
            }
        ),
        "datetime-literal-year-10000",
    ),
    case(fz.post({"query": FILTERED, "variables": {"f": {"createdAfter": 5}}}), "datetime-int"),
    case(
        fz.post({"query": FILTERED, "variables": {"f": {"titleContains": "%_\\"}}}), "like-escapes"
    ),
    case(fz.post({"query": "{}"}), "empty-selection"),
    case(fz.post({"query": "{" * 2000}), "deep-braces"),
    case(fz.post({"query": fz.deep_selection(200)}), "deep-selection"),
    case(
        fz.post({"query": "{ node(id: " + "[" * 3000 + "]" * 3000 + ") { id } }"}), "deep-literal"
    ),
    case(fz.post({"query": "{ " + "a: __typename " * 5000 + "}"}), "many-aliases"),
    case(fz.post({"query": "fragment F on Query { ...F } { ...F }"}), "fragment-cycle"),
    case(
        fz.post({"query": CONVERSATION, "variables": {"i": {"owner": {"participantId": LONG}}}}),
        "long-owner-id",
    ),
    case(
        fz.post(
            {
                "query": "mutation { createConversation(input: {owner: {participantId: "
                + json.dumps(LONG)
                + "}}) { id } }"
            }
        ),
        "long-owner-id-literal",
    ),
    case(
        fz.post(
            {
                "query": "mutation($p: String = "
                + json.dumps(LONG)
                + ") { createConversation(input: {owner: {participantId: $p}}) { id } }"
            }
        ),
        "long-owner-id-default",
    ),
    case(
        fz.post(
            {
                "query": "mutation($i: RegisterComponentVersionInput!) "
                "{ registerComponentVersion(input: $i) { id } }",
                "variables": {"i": {"componentKey": LONG, "type": "TOOL", "definition": {}}},
            }
        ),
        "long-component-key",
    ),
    case(
        fz.post(
            {
                "query": "mutation($u: String) "
                "{ upsertChatSettings(userId: $u, input: {model: null}) { userId } }",
                "variables": {"u": LONG},
            }
        ),
        "long-settings-user",
    ),
    case(fz.post({**TYPENAME, "operationName": ["a"]}), "operation-name-list"),
    case(fz.post({**TYPENAME, "operationName": {"a": 1}}), "operation-name-object"),
    case(fz.post({**TYPENAME, "operationName": "nope"}), "operation-name-unknown"),
    case(
        fz.post({**TYPENAME, "extensions": {"persistedQuery": {"sha256Hash": 1}}}),
        "persisted-query",
    ),
    case(fz.post([TYPENAME, TYPENAME]), "batch"),
    case(fz.post({**TYPENAME}, authorization="Bearer garbage"), "bearer-garbage"),
    case(fz.post({**TYPENAME}, authorization="Basic Zm9vOmJhcg=="), "basic-auth"),
    case(fz.post({**TYPENAME}, **{"x-api-key": "tl_garbage"}), "api-key-garbage"),
    # The body size limit: refused with a 413 (or served, before the limit exists).
    case(fz.post({**TYPENAME, "variables": {"x": "a" * 1_100_000}}), "body-over-1MiB"),
    case(
        fz.RawRequest(
            "POST", fz.encode(TYPENAME), headers={"content-type": "text/plain"}, may_be_refused=True
        ),
        "post-text-plain",
    ),
    case(
        fz.RawRequest(
            "POST",
            b"query=%7B__typename%7D",
            headers={"content-type": "application/x-www-form-urlencoded"},
            may_be_refused=True,
        ),
        "post-form",
    ),
    case(fz.RawRequest("POST", fz.encode(TYPENAME), may_be_refused=True), "post-no-content-type"),
    case(get(("query", "{ __typename }"), csrf=False), "get-without-preflight"),
    case(get(("query", "{ __typename }")), "get"),
    case(get(("query", 'mutation { archiveConversation(id: "x") { id } }')), "get-mutation"),
    case(get(("query", "{ __typename }"), ("variables", "[")), "get-variables-broken"),
    case(get(("query", "{ __typename }"), ("variables", "5")), "get-variables-number"),
    case(get(("query", "{ __typename }"), ("variables", "NaN")), "get-variables-NaN"),
    case(get(("query", "{ __typename }"), ("extensions", "[1]")), "get-extensions-list"),
    case(get(("query", "{ __typename }"), ("query", "{ x }")), "get-query-twice"),
    case(get(("query", "")), "get-query-empty"),
    case(fz.RawRequest("GET"), "get-graphiql"),
    case(fz.RawRequest("HEAD", may_be_refused=True), "head"),
    case(
        fz.RawRequest(
            "PUT", fz.encode(TYPENAME), headers=dict(fz.JSON_CONTENT), may_be_refused=True
        ),
        "put",
    ),
    case(fz.RawRequest("DELETE", may_be_refused=True), "delete"),
    case(fz.RawRequest("OPTIONS", may_be_refused=True), "options"),
    # json.loads raises more than JSONDecodeError, which is all Strawberry catches; and
    # a body that is JSON but no object (`null`) failed later: each was a 500.
    case(fz.RawRequest("POST", b"\x80", headers=dict(fz.JSON_CONTENT)), "body-invalid-utf8"),
    case(fz.RawRequest("POST", b"\x00" * 25, headers=dict(fz.JSON_CONTENT)), "body-utf32-cut"),
    case(fz.RawRequest("POST", NESTED, headers=dict(fz.JSON_CONTENT)), "body-nested-100k"),
    case(fz.post_raw_variable(NODE, "id", NESTED), "variable-nested-100k"),
    case(
        fz.post_raw_variable("query($x: Int) { __typename }", "x", b"1" * 5000), "int-5000-digits"
    ),
    case(get(("query", "{ __typename }"), ("variables", "[" * 15_000)), "get-variables-nested"),
    case(fz.RawRequest("POST", b"null", headers=dict(fz.JSON_CONTENT)), "body-null"),
    case(fz.RawRequest("POST", b"5", headers=dict(fz.JSON_CONTENT)), "body-number"),
    case(fz.RawRequest("POST", b'"{ __typename }"', headers=dict(fz.JSON_CONTENT)), "body-string"),
    # Strawberry would run a subscription sent over HTTP as a query (a server error).
    case(fz.post({"query": "subscription { conversationsActivity { seq } }"}), "subscription-post"),
    case(get(("query", "subscription { conversationsActivity { seq } }")), "subscription-get"),
]


@pytest.mark.parametrize("request_", EDGE_CASES)
async def test_edge_cases(
    http: httpx.AsyncClient, error_log: ErrorLog, request_: fz.RawRequest
) -> None:
    await send(http, error_log, request_)


def conversation_id() -> str:
    return next(i for i in fz.KNOWN.ids if fz.from_global(i)[0] == "Conversation")


async def test_forged_cursors_on_nested_lists(seeded: GraphQLClient, error_log: ErrorLog) -> None:
    forged = ["garbage", fz.cursor_of(10**400, LAST_ID), fz.cursor_of(BEFORE_YEAR_1, LAST_ID)]
    for cursor in forged:
        for key in ("a", "b"):
            variables = {"c": conversation_id(), key: cursor, "f": 1}
            request = fz.post({"query": MESSAGES, "variables": variables})
            response = await send(seeded.http, error_log, request)
            assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_identifiers_at_the_limit_are_stored(
    http: httpx.AsyncClient, error_log: ErrorLog
) -> None:
    """255 characters of 4 bytes each: within PostgreSQL's index entries."""
    owner = "\U0001d4cd" * 255
    variables = {"i": {"owner": {"participantId": owner}}}
    response = await send(http, error_log, fz.post({"query": CONVERSATION, "variables": variables}))
    assert response.json()["data"]["createConversation"]["id"], response.text
    variables = {"i": {"owner": {"participantId": owner + "x"}}}
    response = await send(http, error_log, fz.post({"query": CONVERSATION, "variables": variables}))
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_odd_text_is_stored_as_sent(seeded: GraphQLClient, error_log: ErrorLog) -> None:
    """Text that is unusual but storable comes back as sent, on both databases."""
    for content in ["\u2028", "\ufeff", "\U0001d4cd" * 50, "%_\\", "'; DROP TABLE messages; --"]:
        input = {"conversationId": conversation_id(), "senderId": "dev", "content": content}
        request = fz.post({"query": SEND, "variables": {"input": input}})
        response = await send(seeded.http, error_log, request)
        assert response.json()["data"]["sendMessage"]["content"] == content
