"""`usage(orderBy:, first:)` through /graphql: top-N by every measure, with ties.

TOOL spans of one conversation (durations ms, tokens in/out, cost, status):
  a  100  10/0  0.01 OK;   200  10/0  0.01 ERROR
  b  300   0/5  0.025 OK;  300   0/5  0.025 OK
  c   50  20/0  0.02 ERROR
  d  never ended (no latency, no usage)
So COST ties a and c, COUNT a and b (and c and d), ERROR_RATE b and d, and d has no
latency: ties go by key (a < b < c < d), d last in either direction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from resolvers.analytics import usage as usage_reads
from resolvers.analytics import usage_order
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user
from tests.schema.test_usage_names import a_span

BY_TOOL = """query($o: UsageOrder, $first: Int, $g: [UsageGroupBy!]) {
  usage(groupBy: $g, filter: {kinds: [TOOL]}, orderBy: $o, first: $first) {
    tool count totalTokens cost errorCount errorRate latencyP50Ms latencyMaxMs approximate
  }
}"""
COUNTS = """query($o: UsageOrder) {
  usage(groupBy: [TOOL], filter: {kinds: [TOOL]}, orderBy: $o) { tool count } }"""
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# Each measure's order of the tools, descending then ascending.
ORDERS = {
    "COUNT": ("abcd", "cdab"),
    "INPUT_TOKENS": ("acbd", "bdac"),
    "OUTPUT_TOKENS": ("bacd", "acdb"),
    "TOTAL_TOKENS": ("acbd", "dbac"),
    "COST": ("bacd", "dacb"),
    "ERROR_COUNT": ("acbd", "bdac"),
    "ERROR_RATE": ("cabd", "bdac"),
    "LATENCY_P50": ("bacd", "cabd"),
    "LATENCY_P95": ("bacd", "cabd"),
    "LATENCY_P99": ("bacd", "cabd"),
    "LATENCY_MAX": ("bacd", "cabd"),
}


async def build(gql: GraphQLClient) -> str:
    conversation = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, conversation))["id"]
    calls: list[tuple[str, int | None, dict[str, Any]]] = [
        ("a", 100, {"inputTokens": 10, "cost": 0.01}),
        ("a", 200, {"inputTokens": 10, "cost": 0.01, "status": "ERROR"}),
        ("b", 300, {"outputTokens": 5, "cost": 0.025}),
        ("b", 300, {"outputTokens": 5, "cost": 0.025}),
        ("c", 50, {"inputTokens": 20, "cost": 0.02, "status": "ERROR"}),
        ("d", None, {}),
    ]
    for tool, duration, ended in calls:
        await a_span(gql, trace, "TOOL", START, duration, name=tool, **ended)
    return str(conversation)


async def tools(gql: GraphQLClient, **variables: Any) -> str:
    found = (await gql.data(BY_TOOL, {"g": ["TOOL"], **variables}))["usage"]
    return "".join(g["tool"] for g in found)


@pytest.mark.parametrize("measure", ORDERS)
async def test_every_measure_both_ways(gql: GraphQLClient, measure: str) -> None:
    await build(gql)
    descending, ascending = ORDERS[measure]
    assert await tools(gql, o={"measure": measure}) == descending
    assert await tools(gql, o={"measure": measure, "direction": "DESC"}) == descending
    assert await tools(gql, o={"measure": measure, "direction": "ASC"}) == ascending
    assert await tools(gql, o={"measure": measure, "direction": "ASC"}, first=2) == ascending[:2]


async def test_first_cuts_key_order_and_the_top(gql: GraphQLClient) -> None:
    await build(gql)
    assert await tools(gql) == "abcd"
    assert await tools(gql, first=3) == "abc"
    assert await tools(gql, first=1000) == "abcd"
    top = await gql.data(BY_TOOL, {"g": ["TOOL"], "o": {"measure": "COST"}, "first": 2})
    assert top["usage"] == [
        {
            "tool": "b",
            "count": 2,
            "totalTokens": 10,
            "cost": pytest.approx(0.05),
            "errorCount": 0,
            "errorRate": 0.0,
            "latencyP50Ms": 300,
            "latencyMaxMs": 300,
            "approximate": False,
        },
        {
            "tool": "a",
            "count": 2,
            "totalTokens": 20,
            "cost": pytest.approx(0.02),
            "errorCount": 1,
            "errorRate": 0.5,
            "latencyP50Ms": 100,
            "latencyMaxMs": 200,
            "approximate": False,
        },
    ]
    # Ungrouped, the one group of everything.
    (everything,) = (await gql.data(BY_TOOL, {"g": [], "o": {"measure": "ERROR_RATE"}}))["usage"]
    assert (everything["count"], everything["errorCount"]) == (6, 2)


async def test_a_latency_order_reads_latencies_not_asked_for(gql: GraphQLClient) -> None:
    await build(gql)
    for direction, expected in (("DESC", "bacd"), ("ASC", "cabd")):
        order = {"measure": "LATENCY_P50", "direction": direction}
        found = (await gql.data(COUNTS, {"o": order}))["usage"]
        assert "".join(g["tool"] for g in found) == expected


@pytest.mark.parametrize("first", [0, -1, 1001])
async def test_first_out_of_range(gql: GraphQLClient, first: int) -> None:
    assert await gql.error_code(BY_TOOL, {"first": first}) == "BAD_USER_INPUT"
    order = {"measure": "COST"}
    assert await gql.error_code(BY_TOOL, {"first": first, "o": order}) == "BAD_USER_INPUT"


async def test_an_unknown_measure(gql: GraphQLClient) -> None:
    order = {"measure": "SPEED"}
    assert await gql.error_code(BY_TOOL, {"o": order}) == "BAD_USER_INPUT"


BY_CONVERSATION = """query($first: Int, $o: UsageOrder) {
  usage(groupBy: [CONVERSATION], orderBy: $o, first: $first) {
    conversation { id } count cost latencyP50Ms latencyP95Ms latencyMaxMs approximate } }"""


@pytest.mark.parametrize("sketched", [False, True])
async def test_top_conversations_have_the_latencies_of_all(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, sketched: bool
) -> None:
    """The top conversations by cost read their own latencies alone: the same as when
    every conversation's are read, exact or sketched."""
    spent = {}
    for cents in (3, 1, 4, 2):
        conversation = (await factories.conversation(gql))["id"]
        trace = (await factories.trace(gql, conversation))["id"]
        for duration in (10 * cents, 100 * cents):
            await a_span(gql, trace, "LLM", START, duration, name="llm", cost=cents / 100)
        spent[conversation] = cents
    if sketched:
        monkeypatch.setattr(usage_reads, "EXACT_LIMIT", 0)
    every = (await gql.data(BY_CONVERSATION, {}))["usage"]
    top = (await gql.data(BY_CONVERSATION, {"first": 2, "o": {"measure": "COST"}}))["usage"]
    ranked = sorted(every, key=lambda g: -spent[g["conversation"]["id"]])
    assert top == ranked[:2]
    assert [spent[g["conversation"]["id"]] for g in top] == [4, 3]
    assert {g["approximate"] for g in top} == {sketched}
    cheapest = {"first": 1, "o": {"measure": "COST", "direction": "ASC"}}
    assert (await gql.data(BY_CONVERSATION, cheapest))["usage"] == ranked[-1:]


TOP_BY = """query($first: Int, $o: UsageOrder, $from: DateTime) {
  usage(groupBy: [CONVERSATION], orderBy: $o, first: $first, from: $from) {
    conversation { id } count totalTokens cost latencyMaxMs } }"""
# A range that holds every call: the same groups, read without the conversations' totals.
ALL_TIME = "2000-01-01T00:00:00Z"


@pytest.mark.parametrize("measure", ["COST", "TOTAL_TOKENS"])
@pytest.mark.parametrize("tied_cap", [10, 0])
async def test_top_conversations_by_their_totals(
    secured_http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, measure: str, tied_cap: int
) -> None:
    """The top N by all-time cost or tokens start from the conversations' totals (ties on
    the Nth included), or, past the tie cap, from every conversation's sums: the answer
    is the one a time range holding every call gives, and none of a stranger's
    conversations, however costly, takes a place."""
    monkeypatch.setattr(usage_order, "TIED_CAP", tied_cap)
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    for gql, who, units in ((alice, "alice", (3, 1, 3, 2, 0)), (carol, "carol", (9,))):
        for n in units:
            owner = {"participantId": who}
            conversation = (await factories.conversation(gql, owner=owner))["id"]
            trace = (await factories.trace(gql, conversation))["id"]
            await a_span(gql, trace, "LLM", START, 10 * n, name="llm", inputTokens=n, cost=n / 100)
    for first in (1, 2, 3, 5):
        order = {"first": first, "o": {"measure": measure}}
        top = (await alice.data(TOP_BY, order))["usage"]
        ranged = (await alice.data(TOP_BY, {**order, "from": ALL_TIME}))["usage"]
        assert top == ranged
        assert [g["count"] and g["totalTokens"] for g in top] == [3, 3, 2, 1, 0][:first]
