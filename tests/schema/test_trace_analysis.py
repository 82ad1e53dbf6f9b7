"""`Trace.analysis` and `Span.subtree` through /graphql, with numbers worked out by hand.

Trace X (ms after 12:00; tokens in/out, cost):
  R  CHAIN            [0, 1000]
  ├ A  LLM            [0, 400]     10/5  0.01
  ├ B  TOOL           [300, 900]   ERROR
  │ └ B1 LLM          [400, 900]   20/10 0.02
  ├ C  RETRIEVER      [500, 900]   (ends with B: B started first, so B is on the path)
  └ D  OTHER          [950, -]     still running
  E  LLM (a root)     [100, 200]   1/1   0.005 ERROR
Critical path R, B, B1. R's children ran over [0, 900] (parallel, summing to 1400):
child time 900, self 100. Trace Y: P [0, 1000] with children X [0, 500], Y [100, 200]
(inside X), Z [600, 700] and W [900, 1100] (clipped at P's end): union 700, self 300.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ANALYSIS = """query($id: ID!) { trace(id: $id) { analysis {
  durationMs startedAt endedAt spanCount inputTokens outputTokens totalTokens cost errorCount
  criticalPath { name }
  errorSpans { name }
  timeByKind { kind count totalMs selfMs totalTokens cost errorCount }
  spanTimes { span { name } durationMs childMs selfMs } } } }"""
SUBTREES = """query($id: ID!) { trace(id: $id) { spans(first: 50) { nodes {
  name subtree { spanCount inputTokens outputTokens totalTokens cost errorCount } } } } }"""


async def a_span(
    gql: GraphQLClient,
    trace: str,
    name: str,
    kind: str,
    times: tuple[int, int | None],
    parent: str | None = None,
    **end: Any,
) -> str:
    start = T0 + timedelta(milliseconds=times[0])
    span = await factories.span(
        gql, trace, name=name, kind=kind, startedAt=start.isoformat(), parentSpanId=parent
    )
    if times[1] is not None:
        ended = (T0 + timedelta(milliseconds=times[1])).isoformat()
        await factories.end_span(gql, span["id"], endedAt=ended, **end)
    return str(span["id"])


async def build_x(gql: GraphQLClient) -> str:
    conv = (await factories.conversation(gql))["id"]
    x = str((await factories.trace(gql, conv, startedAt=T0.isoformat()))["id"])
    r = await a_span(gql, x, "R", "CHAIN", (0, 1000))
    await a_span(gql, x, "A", "LLM", (0, 400), r, inputTokens=10, outputTokens=5, cost=0.01)
    b = await a_span(gql, x, "B", "TOOL", (300, 900), r, status="ERROR", error="timeout")
    await a_span(gql, x, "B1", "LLM", (400, 900), b, inputTokens=20, outputTokens=10, cost=0.02)
    await a_span(gql, x, "C", "RETRIEVER", (500, 900), r)
    await a_span(gql, x, "D", "OTHER", (950, None), r)
    usage: dict[str, Any] = {"inputTokens": 1, "outputTokens": 1, "cost": 0.005}
    await a_span(gql, x, "E", "LLM", (100, 200), None, status="ERROR", **usage)
    return x


def kind(
    name: str, count: int, ms: tuple[float, float], tokens: int, cost: float, errors: int
) -> dict[str, Any]:
    total, own = ms
    return {
        "kind": name,
        "count": count,
        "totalMs": total,
        "selfMs": own,
        "totalTokens": tokens,
        "cost": pytest.approx(cost),
        "errorCount": errors,
    }


def times(name: str, duration: float | None, child: float | None) -> dict[str, Any]:
    own = None if duration is None or child is None else duration - child
    return {"span": {"name": name}, "durationMs": duration, "childMs": child, "selfMs": own}


async def test_analysis_of_a_branching_trace(gql: GraphQLClient) -> None:
    x = await build_x(gql)
    found = (await gql.data(ANALYSIS, {"id": x}))["trace"]["analysis"]
    assert found.pop("cost") == pytest.approx(0.035)
    assert found.pop("timeByKind") == [
        kind("CHAIN", 1, (1000, 100), 0, 0, 0),
        kind("LLM", 3, (1000, 1000), 47, 0.035, 1),
        kind("OTHER", 1, (0, 0), 0, 0, 0),
        kind("RETRIEVER", 1, (400, 400), 0, 0, 0),
        kind("TOOL", 1, (600, 100), 0, 0, 1),
    ]
    # R and A both start at 0: by start, then by id.
    assert sorted(found.pop("spanTimes"), key=lambda t: t["span"]["name"]) == [
        times("A", 400, 0),
        times("B", 600, 500),
        times("B1", 500, 0),
        times("C", 400, 0),
        times("D", None, None),
        times("E", 100, 0),
        times("R", 1000, 900),
    ]
    assert found == {
        "durationMs": 1000.0,
        "startedAt": "2024-05-01T12:00:00+00:00",
        "endedAt": "2024-05-01T12:00:01+00:00",
        "spanCount": 7,
        "inputTokens": 31,
        "outputTokens": 16,
        "totalTokens": 47,
        "errorCount": 2,
        "criticalPath": [{"name": "R"}, {"name": "B"}, {"name": "B1"}],
        "errorSpans": [{"name": "E"}, {"name": "B"}],
    }


def subtree(count: int, tokens: tuple[int, int], cost: float, errors: int) -> dict[str, Any]:
    return {
        "spanCount": count,
        "inputTokens": tokens[0],
        "outputTokens": tokens[1],
        "totalTokens": sum(tokens),
        "cost": pytest.approx(cost),
        "errorCount": errors,
    }


async def test_subtree_totals_on_every_span(gql: GraphQLClient, sql: StatementCounter) -> None:
    x = await build_x(gql)
    sql.reset()
    spans = (await gql.data(SUBTREES, {"id": x}))["trace"]["spans"]["nodes"]
    # One statement for the page (and the trace), one for every span's subtree.
    assert sql.count <= 3
    assert {s["name"]: s["subtree"] for s in spans} == {
        "R": subtree(6, (30, 15), 0.03, 1),
        "A": subtree(1, (10, 5), 0.01, 0),
        "B": subtree(2, (20, 10), 0.02, 1),
        "B1": subtree(1, (20, 10), 0.02, 0),
        "C": subtree(1, (0, 0), 0.0, 0),
        "D": subtree(1, (0, 0), 0.0, 0),
        "E": subtree(1, (1, 1), 0.005, 1),
    }


async def test_parallel_children_are_counted_once(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    y = str((await factories.trace(gql, conv, startedAt=T0.isoformat()))["id"])
    p = await a_span(gql, y, "P", "CHAIN", (0, 1000))
    for name, span_times in (("X", (0, 500)), ("Y", (100, 200)), ("Z", (600, 700))):
        await a_span(gql, y, name, "TOOL", span_times, p)
    await a_span(gql, y, "W", "TOOL", (900, 1100), p)
    found = (await gql.data(ANALYSIS, {"id": y}))["trace"]["analysis"]
    (parent,) = [t for t in found["spanTimes"] if t["span"]["name"] == "P"]
    assert parent == times("P", 1000, 700)
    assert found["criticalPath"] == [{"name": "P"}, {"name": "W"}]
    assert found["durationMs"] == 1100.0


async def test_an_empty_trace(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    empty = (await factories.trace(gql, conv))["id"]
    found = (await gql.data(ANALYSIS, {"id": empty}))["trace"]["analysis"]
    assert found == {
        "durationMs": None,
        "startedAt": None,
        "endedAt": None,
        "spanCount": 0,
        "inputTokens": 0,
        "outputTokens": 0,
        "totalTokens": 0,
        "cost": 0,
        "errorCount": 0,
        "criticalPath": [],
        "errorSpans": [],
        "timeByKind": [],
        "spanTimes": [],
    }


TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def otlp_span(span_id: str, parent: str | None, times: tuple[int, int], **attrs: int | str) -> Any:
    nanos = int(T0.timestamp()) * 10**9
    span: dict[str, Any] = {
        "traceId": TRACE_ID,
        "spanId": span_id,
        "name": f"span {span_id[-1]}",
        "startTimeUnixNano": str(nanos + times[0] * 10**6),
        "endTimeUnixNano": str(nanos + times[1] * 10**6),
        "attributes": [
            {"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
            for k, v in attrs.items()
        ],
    }
    if parent is not None:
        span["parentSpanId"] = parent
    return span


async def post(http: httpx.AsyncClient, *spans: Any) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}
    response = await http.post("/v1/traces", json=body)
    assert response.status_code == 200, response.text
    assert "partialSuccess" not in response.json() or not response.json()["partialSuccess"]


async def test_children_that_arrived_before_their_parent(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    root, middle, leaf = "00000000000000a1", "00000000000000a2", "00000000000000a3"
    # A model call (only those count their usage attributes).
    tokens: dict[str, int | str] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 3,
    }
    await post(http, otlp_span(leaf, middle, (100, 300), **tokens))
    await post(http, otlp_span(middle, root, (50, 400)))
    await post(http, otlp_span(root, None, (0, 500)))
    (trace,) = (await gql.data("{ traces(first: 5) { nodes { id } } }"))["traces"]["nodes"]
    found = (await gql.data(SUBTREES, {"id": trace["id"]}))["trace"]["spans"]["nodes"]
    assert [(s["name"], s["subtree"]["spanCount"], s["subtree"]["totalTokens"]) for s in found] == [
        ("span 1", 3, 10),
        ("span 2", 2, 10),
        ("span 3", 1, 10),
    ]
    analysis = (await gql.data(ANALYSIS, {"id": trace["id"]}))["trace"]["analysis"]
    assert analysis["criticalPath"] == [{"name": n} for n in ("span 1", "span 2", "span 3")]
    assert [t["childMs"] for t in analysis["spanTimes"]] == [350, 200, 0]
