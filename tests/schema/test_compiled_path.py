"""The compiled read path (resolvers/compiled, asked by schema/compiled_reads.py) answers
exactly as the normal path does.

Each query of the corpus is sent twice through /graphql: as the app runs it (compiled
where it applies) and with the compiled path switched off; the two response bodies must
be the same text. On PostgreSQL the corpus's queries must take the compiled path; the
queries it does not cover, and every query on SQLite, must not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

import resolvers.compiled.statements as statements
import schema.compiled_reads as compiled
from bench.deep_read import CONVERSATION_PAGE, LIST_PAGE
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import StatementCounter
from tests.databases import admin_connection
from tests.graphql_client import GraphQLClient
from tests.identities import as_key, as_user, bearer, new_key, register_agent, token


class Spy:
    """Whether the compiled path answered each request since the last look."""

    def __init__(self) -> None:
        self.answered: list[bool] = []
        self.off = False

    def take(self) -> list[bool]:
        found, self.answered = self.answered, []
        return found


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    found = Spy()
    original = compiled.compiled_data

    async def watched(*args: Any) -> dict[str, Any] | None:
        data = None if found.off else await original(*args)
        found.answered.append(data is not None)
        return data

    monkeypatch.setattr(compiled, "compiled_data", watched)
    return found


def on_postgres(http: httpx.AsyncClient) -> bool:
    transport = http._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: Any = transport.app
    return bool(app.state.engine.dialect.name == "postgresql")


async def post(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> str:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.text


async def same(
    http: httpx.AsyncClient,
    spy: Spy,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    compiles: bool = True,
) -> str:
    """The response body, the same with and without the compiled path; asserts that the
    compiled path answered it on PostgreSQL when `compiles`, and never otherwise."""
    variables, headers = variables or {}, headers or {}
    spy.take()
    spy.off = False
    answered = await post(http, query, variables, headers)
    taken = spy.take()
    spy.off = True
    normal = await post(http, query, variables, headers)
    spy.off = False
    spy.take()
    assert answered == normal
    assert taken == [compiles and on_postgres(http)], (taken, normal)
    return answered


@dataclass
class World:
    conversation: str
    empty: str
    messages: list[str]


async def seed(gql: GraphQLClient) -> World:
    conv = await factories.conversation(
        gql,
        title="the page",
        tags=["a", "b"],
        metadata={"n": 1, "x": [1.5, None, "s"], "nested": {"z": True}},
        temperature=1.0,
        maxTokens=100,
        systemPrompt="be brief",
    )
    c = conv["id"]
    root = await factories.message(gql, c, content="root", temperature=0.7)
    reply = await factories.message(
        gql,
        c,
        role="ASSISTANT",
        senderId="agent-1",
        senderType="AGENT",
        content="reply",
        parentMessageId=root["id"],
        inputTokens=12,
        outputTokens=3,
        cost=0.25,
        temperature=1.0,
        toolCalls=[
            {"callId": "a", "toolName": "search", "arguments": {"q": "x", "k": [1, 2.0]}},
            {"callId": "b", "toolName": "fetch", "result": {"ok": None}},
        ],
    )
    # A second branch from the root: the latest branch is root -> other -> last.
    other = await factories.message(gql, c, content="other", parentMessageId=root["id"])
    last = await factories.message(gql, c, content='last\n"quoted" é', parentMessageId=other["id"])
    await factories.plan(gql, c, [[], [0], [1]], description="steps")
    version = await factories.component_version(gql, "prompt", {"text": "hi", "n": 2})
    tool = await factories.component_version(gql, "search", {"name": "search"}, type="TOOL")
    trace = await factories.trace(gql, c, name="run")
    agent = await factories.span(
        gql, trace["id"], kind="AGENT", componentVersionIds=[version["id"]]
    )
    llm = await factories.span(
        gql,
        trace["id"],
        kind="LLM",
        parentSpanId=agent["id"],
        componentVersionIds=[version["id"], tool["id"]],
    )
    await factories.end_span(gql, llm["id"], inputTokens=10, outputTokens=5)
    await factories.end_span(gql, agent["id"])
    await factories.trace(gql, c, name="second")
    empty = await factories.conversation(gql, title=None)
    return World(c, empty["id"], [root["id"], reply["id"], other["id"], last["id"]])


ALL_FIELDS = """
fragment M on Message {
  id seq senderId senderType role content parts thinking status model provider
  temperature inputTokens outputTokens totalTokens cost latencyMs attachments metadata
  createdAt updatedAt __typename
  toolCalls { id callId toolName position arguments result status error startedAt endedAt }
  parent { id seq parent { id } }
}
query All($id: ID!) {
  conversation(id: $id) {
    id kind status title summary pinnedFacts tags metadata ownerId modelName systemPrompt
    temperature maxTokens createdAt updatedAt lastActivityAt messageCount inputTokens
    outputTokens totalTokens cost __typename
    lastMessage { ...M }
    messages { totalCount nodes { ...M } }
    everything: messages(allBranches: true) { totalCount __typename nodes { ...M } }
    plans { totalCount nodes {
      id title description status currentStepIndex context maxRetries timeoutSeconds
      createdAt updatedAt
      steps { id position description status result error retries startedAt completedAt }
    } }
    traces { totalCount nodes {
      id name userInput finalOutput status startedAt endedAt durationMs totalTokens cost
      userId sessionId
      spans { totalCount nodes {
        id kind name status error startedAt endedAt durationMs inputs outputs attributes
        model provider inputTokens outputTokens totalTokens cost parent { id name }
        componentVersions { id contentHash versionNumber definition createdAt }
      } }
    } }
  }
}"""

ALIASES_AND_FRAGMENTS = """
fragment Head on Conversation { id t: title ...Counts }
fragment Counts on Conversation { messageCount ... on Conversation { cost } }
query Aliased($id: ID!, $other: ID!) {
  __typename
  page: conversation(id: $id) {
    ...Head
    ... on Node { id __typename }
    first: messages(first: 1) { n: totalCount items: nodes { i: id c: content } }
    messages(first: 2) { nodes { id } }
    messages(first: 2) { nodes { seq parent { id } } }
    again: title
  }
  empty: conversation(id: $other) {
    ...Head lastMessage { id } messages { totalCount nodes { id } } plans { nodes { id } }
  }
  missing: conversation(id: "%s") { id }
}"""

DIRECTIVES = """
query Directed($id: ID!, $yes: Boolean!, $no: Boolean = false) {
  conversation(id: $id) {
    id
    title @include(if: $yes)
    status @skip(if: $yes)
    summary @include(if: $no)
    messages(first: 3) @skip(if: false) {
      totalCount @include(if: true)
      nodes { id ... on Message @include(if: $no) { content } ... @skip(if: $no) { seq } }
    }
    traces @skip(if: true) { totalCount }
  }
}"""

LISTS = """
query Lists($first: Int, $filter: ConversationFilter, $order: ConversationOrder) {
  conversations(first: $first, filter: $filter, orderBy: $order) {
    __typename totalCount
    nodes { id title tags lastActivityAt lastMessage { id content parent { id } } }
  }
}"""


async def test_the_corpus_answers_the_same_both_ways(
    http: httpx.AsyncClient, gql: GraphQLClient, spy: Spy
) -> None:
    world = await seed(gql)
    ids = {"id": world.conversation}
    await same(http, spy, CONVERSATION_PAGE, ids)
    await same(http, spy, LIST_PAGE)
    await same(http, spy, ALL_FIELDS, ids)
    await same(http, spy, ALL_FIELDS, {"id": world.empty})
    missing = to_global_id("Conversation", uuid.uuid4())
    await same(http, spy, ALL_FIELDS, {"id": missing})
    aliased = ALIASES_AND_FRAGMENTS % missing
    await same(http, spy, aliased, {"id": world.conversation, "other": world.empty})
    for yes in (True, False):
        await same(http, spy, DIRECTIVES, {"id": world.conversation, "yes": yes})
        await same(http, spy, DIRECTIVES, {"id": world.conversation, "yes": yes, "no": True})
    for variables in (
        {},
        {"first": 0},
        {"first": 1},
        {"filter": {"tag": "a"}},
        {"filter": {"titleContains": "PAGE"}},
        {"filter": {"statuses": ["ACTIVE"], "createdAfter": "2000-01-01T00:00:00Z"}},
        {"order": {"field": "CREATED_AT", "direction": "ASC"}},
        {"first": 1, "order": {"field": "UPDATED_AT"}},
        {"order": {"field": "COST"}},
        {"order": {"field": "MESSAGE_COUNT", "direction": "ASC"}},
    ):
        await same(http, spy, LISTS, variables)
    # An id written in the document, and page sizes given as literals.
    conversation = f'conversation(id: "{world.conversation}")'
    literal = f"{{ {conversation} {{ messages(first: 2) {{ nodes {{ id }} }} }} }}"
    await same(http, spy, literal)


async def test_the_latest_branch_is_the_one_read(
    http: httpx.AsyncClient, gql: GraphQLClient, spy: Spy
) -> None:
    world = await seed(gql)
    query = "query($id: ID!) { conversation(id: $id) { messages { nodes { id } } } }"
    body = await same(http, spy, query, {"id": world.conversation})
    root, _reply, other, last = world.messages
    assert all(f'"{m}"' in body for m in (root, other, last))
    assert f'"{_reply}"' not in body


async def test_lists_keep_their_order_and_json_values_their_integers(
    http: httpx.AsyncClient, gql: GraphQLClient, spy: Spy
) -> None:
    # Each list is aggregated in its subquery's order, with no sort of its own: component
    # versions are linked here in the reverse of the order they are listed in. A JSON
    # value's integers past 64 bits are read back whole (json, not orjson, parses it).
    c = (await factories.conversation(gql))["id"]
    big = 2**70
    calls = [{"callId": f"c{n}", "toolName": "t", "arguments": {"n": big + n}} for n in range(3)]
    await factories.message(gql, c, toolCalls=calls)
    versions = [(await factories.component_version(gql, f"p{n}", {"n": n}))["id"] for n in range(3)]
    trace = await factories.trace(gql, c)
    await factories.span(gql, trace["id"], componentVersionIds=versions[::-1])
    query = """query($id: ID!) { conversation(id: $id) {
      messages { nodes { toolCalls { arguments } } }
      traces { nodes { spans { nodes { componentVersions { id } } } } } } }"""
    body = await same(http, spy, query, {"id": c})
    assert all(f'"n":{big + n}' in body.replace(" ", "") for n in range(3))
    assert body.index(versions[0]) < body.index(versions[1]) < body.index(versions[2])


async def test_execution_state_is_compiled_and_error_details_run_the_normal_path(
    http: httpx.AsyncClient, gql: GraphQLClient, spy: Spy
) -> None:
    """The new JSON columns are copied as stored (null as SQL NULL or as given); the
    structured error has a resolver (it reads `error` without details): the planner
    steps aside."""
    c = (await factories.conversation(gql))["id"]
    config = {"model": "m", "n": 2**70, "nested": {"x": [1.5, None]}}
    trace = await factories.trace(gql, c, systemConfig=config, initialMemoryState={})
    await factories.trace(gql, c)
    span = await factories.span(gql, trace["id"], memorySnapshot={"k": [1]})
    await factories.end_span(
        gql, span["id"], status="ERROR", errorDetails={"message": "m", "type": "E"}
    )
    other = await factories.span(gql, trace["id"], conversationContext={"w": "x"})
    await factories.end_span(gql, other["id"], status="ERROR", error="plain")
    state = """query($id: ID!) { conversation(id: $id) { traces { nodes {
      initialMemoryState initialConversationState systemConfig
      spans { nodes { memorySnapshot conversationContext error } } } } } }"""
    body = await same(http, spy, state, {"id": c})
    assert f'"n":{2**70}' in body.replace(" ", "")
    details = state.replace("error }", "error errorDetails { type message } }")
    await same(http, spy, details, {"id": c}, compiles=False)


async def test_what_it_does_not_cover_runs_the_normal_path(
    http: httpx.AsyncClient, gql: GraphQLClient, spy: Spy
) -> None:
    world = await seed(gql)
    c = {"id": world.conversation}
    uncovered = [
        # Cursors, `last`, arguments the normal path refuses, fields it does not build.
        "query($id: ID!) { conversation(id: $id) { messages { edges { cursor node { id } } } } }",
        "query($id: ID!) { conversation(id: $id) { messages(last: 1) { nodes { id } } } }",
        "query($id: ID!) { conversation(id: $id) { messages(first: -1) { nodes { id } } } }",
        "query($id: ID!) { conversation(id: $id) { messages(first: 100000) { nodes { id } } } }",
        "query($id: ID!) { conversation(id: $id) { participants { participantId } } }",
        "query($id: ID!) { conversation(id: $id) { id lastEventCursor } }",
        "query($id: ID!) { conversation(id: $id) { messages { nodes { children { id } } } } }",
        "query($id: ID!) { conversation(id: $id) { id } viewer { userId } }",
        "{ conversations(first: 1) { pageInfo { hasNextPage } } }",
    ]
    for query in uncovered:
        await same(http, spy, query, c, compiles=False)
    query = "query($id: ID!) { conversation(id: $id) { id } }"
    # Ids the normal path refuses: of another type, or not ids at all.
    await same(http, spy, query, {"id": world.messages[0]}, compiles=False)
    await same(http, spy, query, {"id": "not an id"}, compiles=False)


async def test_the_bench_queries_are_one_statement(
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    spy: Spy,
    sql: StatementCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not on_postgres(http):
        pytest.skip("the compiled path runs on PostgreSQL only")
    world = await seed(gql)
    # The compiled statement runs on the driver, past SQLAlchemy's statement events.
    on_driver: list[str] = []
    original = statements.fetch_value

    async def counted(engine: Any, statement: Any, arguments: list[Any]) -> Any:
        on_driver.append(statement.sql)
        return await original(engine, statement, arguments)

    monkeypatch.setattr(statements, "fetch_value", counted)
    for query, variables in ((CONVERSATION_PAGE, {"id": world.conversation}), (LIST_PAGE, {})):
        await gql.data(query, variables)  # compiles the plan
        sql.reset()
        on_driver.clear()
        await gql.data(query, variables)
        assert (sql.count, len(on_driver)) == (0, 1), sql.statements
        assert spy.take() == [True, True]


@pytest.mark.postgres_only
async def test_connections_the_server_closed_are_replaced(
    app: Starlette, gql: GraphQLClient, spy: Spy
) -> None:
    # The statement runs on the driver, past SQLAlchemy's disconnect handling: the
    # compiled path must discard the pool's dead connections itself.
    await seed(gql)
    answer = await gql.data(LIST_PAGE)
    url = app.state.engine.url
    admin = await admin_connection(url.render_as_string(hide_password=False))
    try:
        closed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            url.database,
        )
    finally:
        await admin.close()
    assert closed >= 1
    spy.take()
    # The compiled read fails on its dead connection (the spy notes nothing of a read
    # that raised) and the normal path answers, on a new one; then it compiles again.
    assert await gql.data(LIST_PAGE) == answer
    assert spy.take() == []
    assert await gql.data(LIST_PAGE) == answer
    assert spy.take() == [True]


async def test_a_restricted_principal_sees_what_the_normal_path_shows_it(
    secured_http: httpx.AsyncClient, spy: Spy
) -> None:
    http = secured_http
    alice, carol = as_user(http, "alice"), as_user(http, "carol")
    await register_agent(as_user(http, "dave"), "agent-a")
    c = await factories.conversation(
        alice,
        owner={"participantId": "alice"},
        participants=[{"participantId": "agent-a", "participantType": "AGENT"}],
        title="alice's",
    )
    await factories.message(alice, c["id"], senderId="alice", content="hi")
    await factories.conversation(carol, owner={"participantId": "carol"}, title="carol's")
    reader, _ = await new_key(as_user(http, "dave"), ["READ"], agent_id="agent-a")
    writer, _ = await new_key(as_user(http, "dave"), ["WRITE"], agent_id="agent-a")
    page = {"id": c["id"]}
    for headers in (
        bearer(token("alice")),
        bearer(token("carol")),
        bearer(token("nobody")),
        {"X-API-Key": reader},
    ):
        await same(http, spy, CONVERSATION_PAGE, page, headers)
        await same(http, spy, LIST_PAGE, {}, headers)
        await same(http, spy, ALL_FIELDS, page, headers)
    # A key without READ is refused before the compiled path is asked.
    body = await post(http, LIST_PAGE, {}, {"X-API-Key": writer})
    assert "lacks the READ scope" in body
    assert spy.take() == []
    assert (await as_key(http, reader).data(LIST_PAGE))["conversations"]["totalCount"] == 1
