"""`usage` through /graphql, with numbers worked out by hand.

Spans (duration ms, tokens in/out, cost, status), all UTC:
  trace T1 (conversation C1, user u1)
    s1 LLM gpt/openai     05-01 23:00  100  10/5  0.01       versions v1
    s2 LLM gpt/openai     05-01 23:10  300  20/10 0.02 ERROR  versions v1, v2
    s3 TOOL (no model)    05-01 23:20   50
    s4 LLM gpt/openai     05-02 00:30  200  30/15 0.03
    s5 LLM claude         05-02 01:00  never ended (no duration)
  trace T2 (conversation C2, user u2)
    s6 LLM claude         05-02 01:30  400  40/20 0.04 ERROR
    s7 LLM gpt/openai     05-02 02:00 1000
Percentiles are nearest-rank: gpt's [100, 200, 300, 1000] has p50 200 (linear
interpolation would say 250) and p95 1000.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user

USAGE = """
query($f: UsageFilter, $g: [UsageGroupBy!], $from: DateTime, $to: DateTime) {
  usage(filter: $f, groupBy: $g, from: $from, to: $to) {
    model provider spanKind userId period conversation { id } componentVersion { versionNumber }
    count inputTokens outputTokens totalTokens cost
    latencyP50Ms latencyP95Ms latencyP99Ms latencyMaxMs errorCount errorRate
  }
}"""
LINK = """mutation($s: ID!, $v: [ID!]!) {
  linkSpanComponentVersions(spanId: $s, componentVersionIds: $v) { id } }"""


def at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=UTC)


async def a_span(
    gql: GraphQLClient,
    trace: str,
    kind: str,
    start: datetime,
    duration: int | None,
    model: str | None = None,
    **usage: Any,
) -> str:
    provider = {"gpt": "openai", "claude": "anthropic"}.get(model or "")
    span = await factories.span(
        gql, trace, kind=kind, startedAt=start.isoformat(), model=model, provider=provider
    )
    if duration is not None:
        ended = (start + timedelta(milliseconds=duration)).isoformat()
        await factories.end_span(gql, span["id"], endedAt=ended, **usage)
    return str(span["id"])


async def build(gql: GraphQLClient) -> dict[str, str]:
    c1 = (await factories.conversation(gql))["id"]
    c2 = (await factories.conversation(gql))["id"]
    t1 = (await factories.trace(gql, c1, userId="u1", startedAt=at(1, 23, 0).isoformat()))["id"]
    t2 = (await factories.trace(gql, c2, userId="u2", startedAt=at(2, 1, 30).isoformat()))["id"]
    s1 = await a_span(
        gql, t1, "LLM", at(1, 23, 0), 100, "gpt", inputTokens=10, outputTokens=5, cost=0.01
    )
    s2 = await a_span(
        gql,
        t1,
        "LLM",
        at(1, 23, 10),
        300,
        "gpt",
        inputTokens=20,
        outputTokens=10,
        cost=0.02,
        status="ERROR",
        error="rate limited",
    )
    await a_span(gql, t1, "TOOL", at(1, 23, 20), 50)
    await a_span(
        gql, t1, "LLM", at(2, 0, 30), 200, "gpt", inputTokens=30, outputTokens=15, cost=0.03
    )
    await a_span(gql, t1, "LLM", at(2, 1, 0), None, "claude")
    await a_span(
        gql,
        t2,
        "LLM",
        at(2, 1, 30),
        400,
        "claude",
        inputTokens=40,
        outputTokens=20,
        cost=0.04,
        status="ERROR",
    )
    await a_span(gql, t2, "LLM", at(2, 2, 0), 1000, "gpt")
    v1 = await factories.component_version(gql, "prompt", {"v": 1})
    v2 = await factories.component_version(gql, "prompt", {"v": 2})
    await gql.data(LINK, {"s": s1, "v": [v1["id"]]})
    await gql.data(LINK, {"s": s2, "v": [v1["id"], v2["id"]]})
    return {"c1": c1, "c2": c2}


def numbers(
    count: int,
    tokens: tuple[int, int],
    cost: float,
    latency: tuple[float | None, float | None, float | None, float | None],
    errors: int,
) -> dict[str, Any]:
    p50, p95, p99, most = latency
    return {
        "count": count,
        "inputTokens": tokens[0],
        "outputTokens": tokens[1],
        "totalTokens": sum(tokens),
        "cost": pytest.approx(cost),
        "latencyP50Ms": p50,
        "latencyP95Ms": p95,
        "latencyP99Ms": p99,
        "latencyMaxMs": most,
        "errorCount": errors,
        "errorRate": pytest.approx(errors / count if count else 0.0),
    }


MEASURES = set(numbers(1, (0, 0), 0, (None, None, None, None), 0))


async def usage(gql: GraphQLClient, **variables: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await gql.data(USAGE, variables))["usage"]
    return found


def measures(group: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in group.items() if k in MEASURES}


async def test_everything_in_one_group(gql: GraphQLClient) -> None:
    await build(gql)
    (group,) = await usage(gql)
    # Durations [50, 100, 200, 300, 400, 1000]: p50 is the 3rd, p95 and p99 the 6th.
    assert measures(group) == numbers(7, (100, 50), 0.10, (200, 1000, 1000, 1000), 2)
    assert group["model"] is None
    assert group["period"] is None


async def test_by_model_with_nearest_rank_percentiles(gql: GraphQLClient) -> None:
    await build(gql)
    found = await usage(gql, g=["MODEL", "PROVIDER"])
    assert [(g["model"], g["provider"]) for g in found] == [
        ("claude", "anthropic"),
        ("gpt", "openai"),
        (None, None),
    ]
    assert [measures(g) for g in found] == [
        numbers(2, (40, 20), 0.04, (400, 400, 400, 400), 1),  # s5 has no duration
        numbers(4, (60, 30), 0.06, (200, 1000, 1000, 1000), 1),
        numbers(1, (0, 0), 0.0, (50, 50, 50, 50), 0),
    ]


async def test_by_utc_day_and_hour(gql: GraphQLClient) -> None:
    await build(gql)
    days = await usage(gql, g=["DAY"])
    assert [g["period"] for g in days] == ["2024-05-01T00:00:00+00:00", "2024-05-02T00:00:00+00:00"]
    assert [measures(g) for g in days] == [
        numbers(3, (30, 15), 0.03, (100, 300, 300, 300), 1),  # [50, 100, 300]
        numbers(4, (70, 35), 0.07, (400, 1000, 1000, 1000), 1),  # [200, 400, 1000]
    ]
    hours = await usage(gql, g=["HOUR"], f={"models": ["gpt"]})
    assert [(g["period"][:13], g["count"]) for g in hours] == [
        ("2024-05-01T23", 2),
        ("2024-05-02T00", 1),
        ("2024-05-02T02", 1),
    ]


async def test_by_version_conversation_user_and_kind(gql: GraphQLClient) -> None:
    ids = await build(gql)
    versions = await usage(gql, g=["COMPONENT_VERSION"])
    by_version = {
        (g["componentVersion"] or {}).get("versionNumber"): (g["count"], g["inputTokens"])
        for g in versions
    }
    # s2 counts under both of its versions; spans without one under null.
    assert by_version == {1: (2, 30), 2: (1, 20), None: (5, 70)}
    conversations = await usage(gql, g=["CONVERSATION", "USER"])
    assert sorted(
        (g["conversation"]["id"], g["userId"], g["count"]) for g in conversations
    ) == sorted([(ids["c1"], "u1", 5), (ids["c2"], "u2", 2)])
    kinds = await usage(gql, g=["SPAN_KIND"], f={"conversationId": ids["c1"]})
    assert [(g["spanKind"], g["count"], g["errorCount"]) for g in kinds] == [
        ("LLM", 4, 1),
        ("TOOL", 1, 0),
    ]


async def test_time_range_and_empty_results(gql: GraphQLClient) -> None:
    await build(gql)
    (late,) = await usage(gql, **{"from": at(2, 0, 0).isoformat(), "to": at(2, 2, 0).isoformat()})
    assert measures(late) == numbers(3, (70, 35), 0.07, (200, 400, 400, 400), 1)
    (nothing,) = await usage(gql, f={"models": ["none"]})
    assert measures(nothing) == numbers(0, (0, 0), 0.0, (None, None, None, None), 0)
    assert await usage(gql, f={"models": ["none"]}, g=["MODEL"]) == []


async def test_bad_input(gql: GraphQLClient) -> None:
    assert await gql.error_code(USAGE, {"g": ["DAY", "DAY"]}) == "BAD_USER_INPUT"
    later, earlier = at(2, 0, 0).isoformat(), at(1, 0, 0).isoformat()
    assert await gql.error_code(USAGE, {"from": later, "to": earlier}) == "BAD_USER_INPUT"
    assert await gql.error_code(USAGE, {"g": ["WEEK"]}) == "BAD_USER_INPUT"


async def test_only_visible_spans_count(secured_http: httpx.AsyncClient) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    for name, user, tokens in (("alice", alice, 7), ("carol", carol, 100)):
        conv = (await factories.conversation(user, owner={"participantId": name}))["id"]
        trace = (await factories.trace(user, conv))["id"]
        await a_span(user, trace, "LLM", at(1, 0, 0), 10, "gpt", inputTokens=tokens)
    (mine,) = await usage(alice)
    assert (mine["count"], mine["inputTokens"]) == (1, 7)


async def test_only_visible_messages_count(secured_http: httpx.AsyncClient) -> None:
    """The messages counted as model calls of their own are filtered as the spans are:
    carol's usage holds nothing of alice's, whichever conversations she names."""
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    conv = (await factories.conversation(alice, owner={"participantId": "alice"}))["id"]
    await factories.message(alice, conv, senderId="alice", inputTokens=7, cost=0.25)
    query = """query($c: [ID!]) { usage(filter: {conversationIds: $c}, groupBy: [MODEL]) {
      count inputTokens cost } }"""
    for variables in ({"c": None}, {"c": [conv]}):
        assert (await carol.data(query, variables))["usage"] == []
        assert (await alice.data(query, variables))["usage"] == [
            {"count": 1, "inputTokens": 7, "cost": 0.25}
        ]
