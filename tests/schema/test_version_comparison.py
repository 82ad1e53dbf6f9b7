"""`Component.versionComparison` and the version history, with numbers worked out by hand.

Component "prompt" has versions v1, v2 and v3 (v3 never used); "tool" has w1, used by a
span that also used v1 (it must not show up under "prompt").
  a LLM 100 ms 10 tokens 0.01        v1, w1   quality 4
  b LLM 300 ms 20 tokens 0.02 ERROR  v1       quality 2
  c LLM 200 ms 30 tokens 0.03        v2       quality 5
  d LLM still running                v2
  the trace (all four spans): helpful (BOOLEAN) true
v1: 2 spans, [100, 300]: p50 100 (nearest rank 1), p95 300; 1 error of 2.
v2: 2 spans, [200] (d has no duration): p50 = p95 = 200.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.schema.test_scores import add

T0 = datetime(2024, 5, 1, tzinfo=UTC)
COMPARISON = """query($keys: [ID!]!) { nodes(ids: $keys) { ... on Component { key
  versions { versionNumber }
  versionComparison { version { versionNumber } spanCount inputTokens outputTokens totalTokens
    cost latencyP50Ms latencyP95Ms errorCount errorRate
    scores { name count average } } } } }"""


async def build(gql: GraphQLClient) -> tuple[str, str]:
    v1, v2, _ = [
        (await factories.component_version(gql, "prompt", {"v": n}))["id"] for n in (1, 2, 3)
    ]
    w1 = (await factories.component_version(gql, "tool", {"w": 1}, type="TOOL"))["id"]
    conv = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, conv))["id"]
    spans: list[tuple[list[str], int | None, dict[str, Any], float | None]] = [
        ([v1, w1], 100, {"inputTokens": 10, "cost": 0.01}, 4),
        ([v1], 300, {"inputTokens": 20, "cost": 0.02, "status": "ERROR"}, 2),
        ([v2], 200, {"inputTokens": 30, "cost": 0.03}, 5),
        ([v2], None, {}, None),
    ]
    for versions, duration, end, quality in spans:
        span = await factories.span(
            gql, trace, kind="LLM", startedAt=T0.isoformat(), componentVersionIds=versions
        )
        if duration is not None:
            ended = (T0 + timedelta(milliseconds=duration)).isoformat()
            await factories.end_span(gql, span["id"], endedAt=ended, **end)
        if quality is not None:
            await add(gql, span["id"], "quality", "NUMERIC", value=quality)
    await add(gql, trace, "helpful", "BOOLEAN", value=1)
    components = await gql.data("{ components { nodes { id key } } }")
    ids = {c["key"]: c["id"] for c in components["components"]["nodes"]}
    return ids["prompt"], ids["tool"]


def version(
    number: int,
    spans: int,
    tokens: int,
    cost: float,
    latency: tuple[float | None, float | None],
    errors: int,
    scores: list[tuple[str, int, float]],
) -> dict[str, Any]:
    return {
        "version": {"versionNumber": number},
        "spanCount": spans,
        "inputTokens": tokens,
        "outputTokens": 0,
        "totalTokens": tokens,
        "cost": pytest.approx(cost),
        "latencyP50Ms": latency[0],
        "latencyP95Ms": latency[1],
        "errorCount": errors,
        "errorRate": errors / spans if spans else 0.0,
        "scores": [
            {"name": name, "count": count, "average": pytest.approx(average)}
            for name, count, average in scores
        ],
    }


async def test_versions_side_by_side(gql: GraphQLClient, sql: StatementCounter) -> None:
    prompt, tool = await build(gql)
    sql.reset()
    found = (await gql.data(COMPARISON, {"keys": [prompt, tool]}))["nodes"]
    # Both components at once: the components, their versions, spans, scores (numbers
    # and labels), and the versions of the comparison rows.
    assert sql.count <= 7
    by_key = {c["key"]: c for c in found}
    assert [v["versionNumber"] for v in by_key["prompt"]["versions"]] == [1, 2, 3]
    assert by_key["prompt"]["versionComparison"] == [
        version(1, 2, 30, 0.03, (100, 300), 1, [("helpful", 1, 1.0), ("quality", 2, 3.0)]),
        version(2, 2, 30, 0.03, (200, 200), 0, [("helpful", 1, 1.0), ("quality", 1, 5.0)]),
        version(3, 0, 0, 0.0, (None, None), 0, []),
    ]
    assert by_key["tool"]["versionComparison"] == [
        version(1, 1, 10, 0.01, (100, 100), 0, [("helpful", 1, 1.0), ("quality", 1, 4.0)])
    ]
