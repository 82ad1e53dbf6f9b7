"""GET /metrics: what a Prometheus scrape reads after the app has worked, and who may
read it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from config import Settings
from resolvers.counters import MAX_ROUTES
from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.web import otlp_json
from tests.web.conftest import app_with
from tests.web.test_sse import from_now, http_url, next_events, sse
from tests.ws_client import GraphQLWebSocket
from web.metrics import MAX_NAME_LENGTH, MAX_OPERATION_NAMES

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
EVENTS = """subscription Follow($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) { cursor kind } }"""
WINDOW = """query($c: ID!, $n: Int) {
  contextWindow(conversationId: $c, lastN: $n) { truncated messages { id } } }"""
SEND = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }"
INGEST = """mutation($batch: [IngestItem!]!) {
  ingest(batch: $batch) { ok error { code } } }"""
ROUTED = "threadline_messages_routed_total"


async def scrape(http: httpx.AsyncClient, **headers: str) -> Samples:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def series(samples: Samples, name: str, label: str) -> dict[str, float]:
    """A family's samples by the value of its one label."""
    return {dict(labels)[label]: v for (found, labels), v in samples.items() if found == name}


async def until_scraped(
    http: httpx.AsyncClient, condition: Callable[[Samples], bool], tries: int = 500
) -> Samples:
    """The first scrape for which `condition` holds (the server's tasks run on their own time)."""
    for _ in range(tries):
        samples = await scrape(http)
        if condition(samples):
            return samples
        await asyncio.sleep(0.01)
    raise AssertionError("the metrics never showed it")


async def test_queries_mutations_and_errors_are_counted(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    before = await scrape(http)
    await factories.conversation(gql)  # an anonymous mutation
    await gql.data("query Inbox { conversations { totalCount } }")
    await gql.data("query Inbox { conversations { totalCount } }")
    missing = await http.post(
        "/graphql",
        json={"query": 'query Lookup { conversation(id: "Q29udmVyc2F0aW9uOm5vcGU=") { id } }'},
    )
    assert missing.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    invalid = await http.post("/graphql", json={"query": "{ nope }"})
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    after = await scrape(http)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "threadline_graphql_requests_total"
    http_query = {"transport": "http", "type": "query"}
    assert grew(requests, **http_query, operation="Inbox") == 2
    assert grew(requests, **http_query, operation="Lookup") == 1
    assert grew(requests, **http_query, operation="anonymous") == 1
    assert grew(requests, transport="http", type="mutation", operation="anonymous") == 1
    latency = "threadline_graphql_request_seconds_count"
    assert grew(latency, **http_query, operation="Inbox") == 2
    errors = "threadline_graphql_errors_total"
    assert grew(errors, code="BAD_USER_INPUT") == 1
    assert grew(errors, code="GRAPHQL_VALIDATION_FAILED") == 1
    assert grew("threadline_events_published_total") >= 1
    # The pool is SQLAlchemy's queue pool on both databases; nothing holds a connection now.
    assert value(after, "threadline_db_pool_size") >= 1
    assert value(after, "threadline_db_pool_connections", state="checked_out") == 0


async def test_operation_names_are_bounded(settings: Settings, app: object) -> None:
    async with app_with(settings) as fresh:
        for number in range(MAX_OPERATION_NAMES + 5):
            await fresh.post("/graphql", json={"query": f"query Q{number} {{ __typename }}"})
        samples = await scrape(fresh)
    names = {
        dict(labels)["operation"]
        for (name, labels) in samples
        if name == "threadline_graphql_requests_total"
    }
    assert len(names) == MAX_OPERATION_NAMES + 1
    assert "other" in names
    other = value(
        samples,
        "threadline_graphql_requests_total",
        transport="http",
        type="query",
        operation="other",
    )
    assert other == 5


async def test_only_operations_that_run_give_their_names_labels(
    settings: Settings, app: object
) -> None:
    async with app_with(settings) as fresh:
        # Refused documents, as many as there are labels: none takes one.
        for number in range(MAX_OPERATION_NAMES):
            refused = await fresh.post("/graphql", json={"query": f"query N{number} {{ nope }}"})
            assert refused.json()["data"] is None
        for query in ("query Ran { __typename }", "query N1 { __typename }"):
            assert (await fresh.post("/graphql", json={"query": query})).status_code == 200
        # A name with a label keeps it, whether or not its next document runs.
        await fresh.post("/graphql", json={"query": "query N1 { nope }"})
        # A field error still ran: the operation executed.
        missing = 'query Lookup { conversation(id: "Q29udmVyc2F0aW9uOm5vcGU=") { id } }'
        await fresh.post("/graphql", json={"query": missing})
        samples = await scrape(fresh)
    names = series(samples, "threadline_graphql_requests_total", "operation")
    assert names == {"other": MAX_OPERATION_NAMES, "Ran": 1, "N1": 2, "Lookup": 1}


async def test_a_long_operation_name_is_counted_as_other(settings: Settings, app: object) -> None:
    longest, too_long = "L" * MAX_NAME_LENGTH, "L" * (MAX_NAME_LENGTH + 1)
    async with app_with(settings) as fresh:
        for name in (longest, too_long):
            await fresh.post("/graphql", json={"query": f"query {name} {{ __typename }}"})
        samples = await scrape(fresh)
    names = series(samples, "threadline_graphql_requests_total", "operation")
    assert names == {longest: 1, "other": 1}


async def test_a_subscription_is_counted_live_and_its_events_delivered(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conversation = await factories.conversation(gql)
    before = await scrape(http)
    assert value(before, "threadline_websockets_active") >= 1
    follow = {"transport": "websocket", "type": "subscription", "operation": "Follow"}
    # From the conversation's last cursor, so that the event sent next cannot be missed
    # (a subscription from now is live only once it is attached): a resume.
    variables = await from_now(gql, conversation["id"])
    op = await ws.subscribe(EVENTS, variables["variables"])
    await until_scraped(http, lambda s: grew(before, s, "threadline_subscriptions_active") == 1)
    await factories.message(gql, conversation["id"])
    await ws.next(op)
    during = await scrape(http)
    assert grew(before, during, "threadline_events_delivered_total") > 0
    assert grew(before, during, "threadline_graphql_requests_total", **follow) == 1
    assert grew(before, during, "threadline_subscription_resumes_total") == 1

    await ws.stop(op)
    await until_scraped(http, lambda s: grew(before, s, "threadline_subscriptions_active") == 0)
    # Without a cursor: counted, and not as a resume.
    fresh = await ws.subscribe(EVENTS, {"c": conversation["id"]})
    after = await until_scraped(
        http, lambda s: grew(before, s, "threadline_subscriptions_active") == 1
    )
    assert grew(before, after, "threadline_graphql_requests_total", **follow) == 2
    assert grew(before, after, "threadline_subscription_resumes_total") == 1
    await ws.stop(fresh)


async def test_errors_sent_over_a_websocket_are_counted(
    http: httpx.AsyncClient, ws: GraphQLWebSocket
) -> None:
    before = await scrape(http)
    op = await ws.subscribe(EVENTS, {"c": "Q29udmVyc2F0aW9uOm5vcGU="})
    message = await ws.message(op)
    [error] = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    errors = "threadline_graphql_errors_total"
    await until_scraped(
        http,
        lambda s: (
            value(s, errors, code="BAD_USER_INPUT")
            == value(before, errors, code="BAD_USER_INPUT") + 1
        ),
    )


async def test_ingested_spans_are_counted(http: httpx.AsyncClient) -> None:
    before = await scrape(http)
    good = otlp_json.span(1, 1, "tool", {"gen_ai.operation.name": "execute_tool"})
    bad = {**otlp_json.span(1, 2, "broken", {}), "spanId": "not-hex"}
    response = await http.post("/v1/traces", json=otlp_json.export(good, bad))
    assert response.status_code == 200, response.text
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    after = await scrape(http)
    for outcome in ("accepted", "rejected"):
        grew = value(after, "threadline_ingested_items_total", signal="spans", outcome=outcome)
        was = value(before, "threadline_ingested_items_total", signal="spans", outcome=outcome)
        assert grew - was == 1, outcome
    assert value(after, "threadline_ingest_requests_in_progress") == 0


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"metrics": "off"}, 404),
        # With authentication on, auto serves nothing unless a token is set...
        ({"jwt_secret": "s" * 32}, 404),
        # ... and METRICS=on serves it to the bearer of METRICS_TOKEN (which it needs).
        ({"jwt_secret": "s" * 32, "metrics": "on", "metrics_token": "scrape-me"}, 401),
    ],
)
async def test_who_may_scrape(
    settings: Settings, app: object, changes: dict[str, str], status: int
) -> None:
    async with app_with(settings, **changes) as client:
        assert (await client.get("/metrics")).status_code == status


async def test_a_token_is_required_when_set(settings: Settings, app: object) -> None:
    async with app_with(settings, jwt_secret="s" * 32, metrics_token="scrape-me") as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer scrape-you"})
        assert wrong.status_code == 401
        assert "threadline_" not in wrong.text
        samples = await scrape(client, Authorization="Bearer scrape-me")
        assert ("threadline_websockets_active", frozenset()) in samples


async def test_context_windows_are_counted_by_whether_they_truncate(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    c = (await factories.conversation(gql))["id"]
    for content in ("first", "second"):
        await factories.message(gql, c, content=content)
    missing = to_global_id("Conversation", uuid.uuid4())
    before = await scrape(http)
    whole = (await gql.data(WINDOW, {"c": c}))["contextWindow"]
    cut = (await gql.data(WINDOW, {"c": c, "n": 1}))["contextWindow"]
    assert (len(whole["messages"]), whole["truncated"]) == (2, False)
    assert (len(cut["messages"]), cut["truncated"]) == (1, True)
    # A window nobody got is not counted.
    assert await gql.error_code(WINDOW, {"c": missing}) == "NOT_FOUND"
    after = await scrape(http)
    windows = "threadline_context_windows_total"
    assert grew(before, after, windows, truncated="false") == 1
    assert grew(before, after, windows, truncated="true") == 1


def routed(c: str, route: str, **input: Any) -> dict[str, Any]:
    return {"conversationId": c, "senderId": "user-1", "routingDecision": {"route": route}, **input}


async def test_messages_are_counted_by_route_once_committed(
    settings: Settings, app: object
) -> None:
    # An app of its own: routes are counted per app, and bounded per app.
    async with app_with(settings) as fresh:
        gql = GraphQLClient(fresh)
        c = (await factories.conversation(gql))["id"]
        elsewhere = (await factories.trace(gql, (await factories.conversation(gql))["id"]))["id"]
        retried = routed(c, " agent ", id=str(uuid.uuid4()))
        first = await gql.data(SEND, {"input": retried})
        # Sent again (the same client id): the same message, counted once.
        assert await gql.data(SEND, {"input": retried}) == first
        await gql.data(SEND, {"input": routed(c, "model")})
        await factories.message(gql, c)  # no decision: no route
        # Rolled back: its run is in another conversation.
        rejected = routed(c, "agent", runId=elsewhere)
        assert await gql.error_code(SEND, {"input": rejected}) == "BAD_USER_INPUT"
        # Through `ingest`: only the item that committed.
        batch = [
            {"clientEventId": str(uuid.uuid4()), "message": routed(c, "agent")},
            {"clientEventId": str(uuid.uuid4()), "message": routed(c, "model", runId=elsewhere)},
        ]
        results = (await gql.data(INGEST, {"batch": batch}))["ingest"]
        assert [r["ok"] for r in results] == [True, False]
        assert series(await scrape(fresh), ROUTED, "route") == {"agent": 2, "model": 1}


async def test_routes_are_bounded(settings: Settings, app: object) -> None:
    async with app_with(settings) as fresh:
        gql = GraphQLClient(fresh)
        c = (await factories.conversation(gql))["id"]
        batch = [
            {"clientEventId": str(uuid.uuid4()), "message": routed(c, f"route-{n}")}
            for n in range(MAX_ROUTES + 3)
        ]
        results = (await gql.data(INGEST, {"batch": batch}))["ingest"]
        assert all(r["ok"] for r in results)
        counted = series(await scrape(fresh), ROUTED, "route")
    assert len(counted) == MAX_ROUTES + 1
    assert counted["other"] == 3


async def test_ingest_items_are_counted_as_the_mutation_reports(
    settings: Settings, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    c = (await factories.conversation(gql))["id"]
    unknown = to_global_id("Conversation", uuid.uuid4())
    batch = [
        {"clientEventId": str(uuid.uuid4()), "message": {"conversationId": c, "senderId": "u"}},
        {
            "clientEventId": str(uuid.uuid4()),
            "message": {"conversationId": unknown, "senderId": "u"},
        },
    ]
    before = await scrape(http)
    results = (await gql.data(INGEST, {"batch": batch}))["ingest"]
    assert [(r["ok"], r["error"]) for r in results] == [
        (True, None),
        (False, {"code": "NOT_FOUND"}),
    ]
    # A batch refused as a whole applies nothing and counts nothing.
    too_many = [{"clientEventId": "x", "message": batch[0]["message"]}] * (
        settings.ingest_max_items + 1
    )
    assert await gql.error_code(INGEST, {"batch": too_many}) == "BAD_USER_INPUT"
    after = await scrape(http)
    items = "threadline_ingested_items_total"
    assert grew(before, after, items, signal="ingest", outcome="accepted") == 1
    assert grew(before, after, items, signal="ingest", outcome="rejected") == 1


async def test_a_subscription_over_sse_is_counted_while_it_streams(
    http: httpx.AsyncClient, gql: GraphQLClient, server_url: str
) -> None:
    conversation = await factories.conversation(gql)
    body = {**await from_now(gql, conversation["id"]), "query": EVENTS}
    before = await scrape(http)
    follow = {"transport": "sse", "type": "subscription", "operation": "Follow"}
    async with sse(http_url(server_url), body) as (_, events):
        await factories.message(gql, conversation["id"])
        await next_events(events, 1)
        during = await scrape(http)
        assert grew(before, during, "threadline_graphql_requests_total", **follow) == 1
        assert grew(before, during, "threadline_subscriptions_active") == 1
        # It was given a cursor to start after: a resume.
        assert grew(before, during, "threadline_subscription_resumes_total") == 1
    await until_scraped(
        http,
        lambda s: grew(before, s, "threadline_subscriptions_active") == 0,
    )
