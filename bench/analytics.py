"""Latency of each aggregate and of search over the bench/dataset.py data, through the
real /graphql endpoint (in process), run a number of times each: as the single user of
development mode, or with --as-user as one signed-in user (AUTH_JWT_SECRET must be set),
who sees only their own conversations (the dataset's owners are user-0 ... user-49).

    DATABASE_URL=postgresql+asyncpg://... python -m bench.analytics --runs 10

Prints p50 and max per query and writes bench/results/analytics.json.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bench.harness import percentile, print_table, write_results
from config import Settings
from tests.graphql_client import GraphQLClient
from tests.identities import bearer, token
from web.app import create_app

USAGE = """query($g: [UsageGroupBy!]) { usage(groupBy: $g) {
  count totalTokens cost latencyP50Ms latencyP95Ms latencyP99Ms errorRate } }"""
SCORES = """query($v: Boolean!) { scoreSummary(byComponentVersion: $v) { name count average } }"""
SEARCH = """query($q: String!, $spans: Boolean!) {
  search(query: $q, first: 20, filter: {includeSpans: $spans}) {
    edges { node { rank snippet } } } }"""
WINDOW = """query($c: ID!) { contextWindow(conversationId: $c, tokenBudget: 1000) {
  tokenCount messages { id } } }"""
FIRST_CONVERSATION = "{ conversations(first: 1) { nodes { id } } }"
METRICS = """{ conversations(first: 50) { nodes { metrics {
  turns messageCount totalTokens cost answerLatencyP95Ms toolCalls { toolName errorRate }
  planCompletion waitingOnUserMs } } } }"""
ANALYSIS = """{ traces(first: 20) { nodes { analysis {
  durationMs totalTokens cost errorCount criticalPath { id } timeByKind { kind selfMs }
  spanTimes { selfMs childMs } }
  rootSpans { subtree { spanCount totalTokens cost errorCount } } } } }"""
SPANS = """query($f: SpanFilter, $o: SpanOrder) { spans(filter: $f, orderBy: $o, first: 50) {
  totalCount nodes { id durationMs } } }"""
VERSIONS = """{ components(first: 10) { nodes { versionComparison {
  spanCount totalTokens cost latencyP50Ms latencyP95Ms errorRate scores { name average } } } } }"""


async def timed(
    gql: GraphQLClient, runs: int, query: str, variables: dict[str, Any]
) -> list[float]:
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        await gql.data(query, variables)
        took.append((time.perf_counter() - start) * 1000)
    return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--as-user", help="a user id: act as this signed-in user")
    args = parser.parse_args()
    settings = Settings.from_env()
    headers = {}
    if args.as_user:
        if not settings.jwt_secret:
            parser.error("--as-user needs AUTH_JWT_SECRET")
        headers = bearer(token(args.as_user, key=settings.jwt_secret))
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            gql = GraphQLClient(http, headers)
            conversation = (await gql.data(FIRST_CONVERSATION))["conversations"]["nodes"][0]["id"]
            cases: list[tuple[str, str, dict[str, Any]]] = [
                ("usage (one group)", USAGE, {"g": []}),
                *(
                    (f"usage by {g}", USAGE, {"g": [g]})
                    for g in (
                        "MODEL",
                        "SPAN_KIND",
                        "DAY",
                        "HOUR",
                        "COMPONENT_VERSION",
                        "CONVERSATION",
                    )
                ),
                ("scoreSummary by name", SCORES, {"v": False}),
                ("scoreSummary by version", SCORES, {"v": True}),
                ("search messages", SEARCH, {"q": "refund invoice", "spans": False}),
                ("search messages+spans", SEARCH, {"q": "refund invoice", "spans": True}),
                ("contextWindow (1000 tokens)", WINDOW, {"c": conversation}),
                ("metrics of 50 conversations", METRICS, {}),
                ("analysis + subtrees of 20 traces", ANALYSIS, {}),
                (
                    "spans: LLM, > 200 ms, by cost",
                    SPANS,
                    {
                        "f": {"kinds": ["LLM"], "minDurationMs": 200},
                        "o": {"field": "COST", "direction": "DESC"},
                    },
                ),
                (
                    "spans: attribute, by duration",
                    SPANS,
                    {
                        "f": {"attributes": [{"path": ["gen_ai.system"], "value": "openai"}]},
                        "o": {"field": "DURATION", "direction": "DESC"},
                    },
                ),
                (
                    "spans: errors, by tokens",
                    SPANS,
                    {
                        "f": {"hasError": True},
                        "o": {"field": "TOKENS", "direction": "DESC"},
                    },
                ),
                ("versionComparison", VERSIONS, {}),
            ]
            figures = []
            for name, query, variables in cases:
                took = await timed(gql, args.runs, query, variables)
                figures.append(
                    {
                        "query": name,
                        "p50_ms": round(percentile(took, 0.5), 1),
                        "max_ms": round(max(took), 1),
                    }
                )
    print_table(["query", "p50 ms", "max ms"], [list(f.values()) for f in figures])
    write_results(
        "analytics",
        {"database": settings.database_url.split("@")[-1], "runs": args.runs, "figures": figures},
    )


if __name__ == "__main__":
    asyncio.run(main())
