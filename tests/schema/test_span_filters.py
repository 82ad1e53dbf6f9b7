"""Span filters and orderings: the root `spans` list and `Trace.spans(filter, orderBy)`.

trace T1
  s1 LLM  "chat gpt"     00:00  100 ms  10+5 tokens  0.01  attributes below
  s2 LLM  "chat claude"  00:01  300 ms  30 tokens    0.03  ERROR
  s3 TOOL "search"       00:02  300 ms  (ties with s2)
  s4 TOOL "search"       00:03  still running: no duration (last when sorted by it)
trace T2
  s5 LLM  "chat gpt"     00:04   50 ms  100 tokens   0.05  {"n": 42}
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from resolvers.analytics import spans as span_reads
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.identities import as_user

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
SPANS = """query($f: SpanFilter, $o: SpanOrder, $first: Int, $after: String, $last: Int,
  $before: String) {
  spans(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
    nodes { name durationMs } } }"""
S1_ATTRIBUTES = {"gen_ai.request.model": "gpt", "stream": True, "nested": {"k": "v"}}


async def a_span(
    gql: GraphQLClient,
    trace: str,
    name: str,
    minute: int,
    duration: int | None,
    attributes: dict[str, Any] | None = None,
    **end: Any,
) -> None:
    kind = "LLM" if "chat" in name else "TOOL"
    start = T0 + timedelta(minutes=minute)
    span = await factories.span(
        gql,
        trace,
        name=name,
        kind=kind,
        startedAt=start.isoformat(),
        attributes=attributes or {},
        model=end.pop("model", None),
    )
    if duration is not None:
        ended = (start + timedelta(milliseconds=duration)).isoformat()
        await factories.end_span(gql, span["id"], endedAt=ended, **end)


async def build(gql: GraphQLClient) -> tuple[str, str]:
    conv = (await factories.conversation(gql))["id"]
    t1 = str((await factories.trace(gql, conv))["id"])
    t2 = str((await factories.trace(gql, conv))["id"])
    gpt = {"model": "gpt", "inputTokens": 10, "outputTokens": 5, "cost": 0.01}
    await a_span(gql, t1, "s1 chat gpt", 0, 100, S1_ATTRIBUTES, **gpt)
    claude = {"model": "claude", "inputTokens": 30, "cost": 0.03, "status": "ERROR"}
    await a_span(gql, t1, "s2 chat claude", 1, 300, {"stream": False}, **claude)
    await a_span(gql, t1, "s3 search", 2, 300)
    await a_span(gql, t1, "s4 search", 3, None)
    big = {"model": "gpt", "inputTokens": 100, "cost": 0.05}
    await a_span(gql, t2, "s5 chat gpt", 4, 50, {"n": 42}, **big)
    return t1, t2


async def names(gql: GraphQLClient, **variables: Any) -> list[str]:
    found = (await gql.data(SPANS, variables))["spans"]
    assert found["totalCount"] == len(found["nodes"])
    return [node["name"][:2] for node in found["nodes"]]


def attribute(path: list[str], value: str) -> dict[str, Any]:
    return {"attributes": [{"path": path, "value": value}]}


async def test_each_filter(gql: GraphQLClient) -> None:
    await build(gql)
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({}, ["s1", "s2", "s3", "s4", "s5"]),
        ({"kinds": ["LLM"]}, ["s1", "s2", "s5"]),
        ({"statuses": ["ERROR"]}, ["s2"]),
        ({"models": ["claude", "none"]}, ["s2"]),
        ({"nameContains": "CHAT G"}, ["s1", "s5"]),
        ({"minDurationMs": 100, "maxDurationMs": 300}, ["s1", "s2", "s3"]),
        ({"maxDurationMs": 99.5}, ["s5"]),
        ({"hasError": True}, ["s2"]),
        ({"hasError": False}, ["s1", "s3", "s4", "s5"]),
        ({"minTokens": 15, "maxTokens": 30}, ["s1", "s2"]),
        ({"minTokens": 31}, ["s5"]),
        (attribute(["gen_ai.request.model"], "gpt"), ["s1"]),
        (attribute(["nested", "k"], "v"), ["s1"]),
        (attribute(["stream"], "true"), ["s1"]),
        (attribute(["stream"], "false"), ["s2"]),
        (attribute(["n"], "42"), ["s5"]),
        (attribute(["gen_ai", "request", "model"], "gpt"), []),
        (
            {
                "startedAfter": (T0 + timedelta(minutes=1)).isoformat(),
                "startedBefore": (T0 + timedelta(minutes=3)).isoformat(),
            },
            ["s2", "s3"],
        ),
        ({"kinds": ["LLM"], "hasError": False, "minTokens": 20}, ["s5"]),
    ]
    for spans_filter, expected in cases:
        assert await names(gql, f=spans_filter) == expected, spans_filter


async def all_pages(gql: GraphQLClient, order: dict[str, str], size: int) -> list[Any]:
    """Every span, `size` at a time: (name, duration) in list order."""
    found: list[Any] = []
    after = None
    while True:
        page = (await gql.data(SPANS, {"o": order, "first": size, "after": after}))["spans"]
        found += [(n["name"][:2], n["durationMs"]) for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def test_sorting_and_paging_with_ties_and_nulls(gql: GraphQLClient) -> None:
    await build(gql)
    down = await all_pages(gql, {"field": "DURATION", "direction": "DESC"}, 2)
    assert [d for _, d in down] == [300, 300, 100, 50, None]
    assert {n for n, d in down[:2]} == {"s2", "s3"}
    up = await all_pages(gql, {"field": "DURATION"}, 1)
    assert up == [("s5", 50), ("s1", 100), *reversed(down[:2]), ("s4", None)]
    # Backwards from the end: the spans without a duration are the last page.
    last = (await gql.data(SPANS, {"o": {"field": "DURATION"}, "last": 2}))["spans"]
    assert [n["name"][:2] for n in last["nodes"]] == [up[3][0], "s4"]
    before = last["pageInfo"]["startCursor"]
    earlier = await gql.data(SPANS, {"o": {"field": "DURATION"}, "last": 2, "before": before})
    assert [n["name"][:2] for n in earlier["spans"]["nodes"]] == ["s1", up[2][0]]
    tokens = await all_pages(gql, {"field": "TOKENS", "direction": "DESC"}, 3)
    assert [n for n, _ in tokens][:3] == ["s5", "s2", "s1"]
    cost = await all_pages(gql, {"field": "COST", "direction": "DESC"}, 2)
    assert [n for n, _ in cost][:3] == ["s5", "s2", "s1"]
    assert [n for n, _ in await all_pages(gql, {"field": "START", "direction": "DESC"}, 2)] == [
        "s5",
        "s4",
        "s3",
        "s2",
        "s1",
    ]


TRACE_SPANS = """query($ids: [ID!]!, $f: SpanFilter, $o: SpanOrder) { nodes(ids: $ids) {
  ... on Trace { spans(filter: $f, orderBy: $o, first: 2) { totalCount nodes { name } } } } }"""


async def test_trace_spans_filtered_in_one_query_for_many_traces(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    t1, t2 = await build(gql)
    sql.reset()
    found = await gql.data(
        TRACE_SPANS,
        {"ids": [t1, t2], "f": {"kinds": ["LLM"]}, "o": {"field": "COST", "direction": "DESC"}},
    )
    # Two traces: one statement for them, one for the pages, one for the counts.
    assert sql.count <= 3
    assert [
        (t["spans"]["totalCount"], [n["name"][:2] for n in t["spans"]["nodes"]])
        for t in found["nodes"]
    ] == [(2, ["s2", "s1"]), (1, ["s5"])]


async def test_bad_filters_and_cursors(gql: GraphQLClient) -> None:
    for spans_filter in (
        {"minTokens": 5, "maxTokens": 4},
        {"minDurationMs": 5, "maxDurationMs": 4},
        {"startedAfter": T0.isoformat(), "startedBefore": T0.isoformat()},
        attribute([], "x"),
        attribute(["a", ""], "x"),
        attribute(['a"b'], "x"),
    ):
        assert await gql.error_code(SPANS, {"f": spans_filter}) == "BAD_USER_INPUT"
    # A cursor of another ordering: a date where a number must be.
    await build(gql)
    page = (await gql.data(SPANS, {"first": 1}))["spans"]
    cursor = page["pageInfo"]["endCursor"]
    order = {"field": "COST"}
    assert await gql.error_code(SPANS, {"o": order, "after": cursor}) == "BAD_USER_INPUT"


async def test_only_visible_spans(secured_http: httpx.AsyncClient) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    for name, user in (("alice", alice), ("carol", carol)):
        conv = (await factories.conversation(user, owner={"participantId": name}))["id"]
        trace = (await factories.trace(user, conv))["id"]
        await factories.span(user, trace, name=f"{name} span")
    found = (await alice.data(SPANS))["spans"]
    assert (found["totalCount"], [n["name"] for n in found["nodes"]]) == (1, ["alice span"])


CAPPED = """query($f: SpanFilter) { spans(filter: $f, first: 2) {
  totalCount totalCountIsLowerBound pageInfo { hasNextPage } } }"""


async def test_the_root_total_is_capped(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cap the total stops at it and says it is a lower bound; up to it, exact."""
    monkeypatch.setattr(span_reads, "COUNT_CAP", 3)
    await build(gql)
    cases = [({}, 3, True), ({"kinds": ["LLM"]}, 3, False), ({"kinds": ["TOOL"]}, 2, False)]
    for spans_filter, total, lower_bound in cases:
        found = (await gql.data(CAPPED, {"f": spans_filter}))["spans"]
        assert (found["totalCount"], found["totalCountIsLowerBound"]) == (total, lower_bound)
        assert found["pageInfo"]["hasNextPage"] is (total > 2)


async def test_members_see_the_spans_of_their_conversations(
    secured_http: httpx.AsyncClient,
) -> None:
    """Visibility as a set of conversations: the owner's, and those one takes part in
    (until removed); nobody else's."""
    alice, carol, dave = (as_user(secured_http, name) for name in ("alice", "carol", "dave"))
    conv = (
        await factories.conversation(
            alice, owner={"participantId": "alice"}, participants=[{"participantId": "carol"}]
        )
    )["id"]
    trace = (await factories.trace(alice, conv))["id"]
    await factories.span(alice, trace, name="shared")
    seen = {}
    for name, user in (("alice", alice), ("carol", carol), ("dave", dave)):
        found = (await user.data(SPANS))["spans"]
        seen[name] = (found["totalCount"], [n["name"] for n in found["nodes"]])
    assert seen == {"alice": (1, ["shared"]), "carol": (1, ["shared"]), "dave": (0, [])}
    remove = """mutation($c: ID!) { removeParticipant(conversationId: $c, participantId: "carol") {
      active } }"""
    await alice.data(remove, {"c": conv})
    assert (await carol.data(SPANS))["spans"]["totalCount"] == 0
