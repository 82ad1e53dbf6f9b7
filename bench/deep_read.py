"""Deep reads against hand-written SQL: the conversation page and the list page.

Seeds a PostgreSQL database through the API (50 conversations; one of them with 50
messages carrying tool calls, a plan of 10 steps and a trace of 200 spans linked to
component versions), around them older conversations and traces written in bulk
(bench.dataset; a database in use is not 50 conversations, and PostgreSQL plans for
tiny tables differently), gathers planner statistics, checks that GraphQL and the
baseline (bench/read_baseline.py:
asyncpg, one query per level, json.dumps) produce the same JSON, then measures:

- in process: schema execution + JSON encoding vs the baseline functions, ms p50/p99;
- over HTTP: requests/s and p50/p99 at concurrency 16 for `main.py serve` vs a minimal
  Starlette route running the baseline SQL (bench.read_baseline), each in its own
  process, one at a time.

Ratios are GraphQL / baseline (times) and baseline / GraphQL (throughput): 1.0 is
parity. Figures go to bench/results/deep_read.json.

    python -m bench.deep_read [--database-url postgresql+asyncpg://...] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, astuple, dataclass
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from bench import dataset
from bench.harness import (
    parser_on_postgres,
    percentile,
    print_table,
    server,
    wait_healthy,
    write_results,
)
from bench.read_baseline import (
    asyncpg_dsn,
    conversation_list,
    conversation_page,
)
from config import Settings
from resolvers.context import Context
from resolvers.ids import from_global_id
from schema import build_schema
from tests.databases import fresh_database
from web.app import create_app

CONVERSATION_PAGE = """query Page($id: ID!) {
  conversation(id: $id) {
    id title status messageCount totalTokens cost
    messages(first: 50) { nodes {
      id seq role senderId content createdAt totalTokens
      toolCalls { id toolName status arguments } } }
    plans(first: 1) { nodes { id title status steps { id position description status } } }
    traces(first: 1) { nodes {
      id name status durationMs totalTokens
      spans(first: 250) { nodes {
        id name kind status startedAt durationMs totalTokens parent { id }
        componentVersions { id versionNumber contentHash } } } } }
  }
}"""
LIST_PAGE = """query List {
  conversations(first: 50) {
    totalCount
    nodes { id title status messageCount totalTokens cost lastActivityAt
      lastMessage { id role content createdAt } }
  }
}"""

CONVERSATIONS = 50
MESSAGES_ON_LIST = 20
MESSAGES_ON_PAGE = 50
STEPS = 10
LLM_CALLS = 20
TOOLS_PER_LLM_CALL = 9  # 1 agent span + 20 LLM spans + 180 tool spans = 201 spans
VERSIONS = 6


class Seeder:
    """Writes the dataset through the GraphQL API of an in-process app."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, mutation: str, input: dict[str, Any]) -> dict[str, Any]:
        name = mutation.split("(")[0]
        type_name = name[0].upper() + name[1:] + "Input"
        document = f"mutation($i: {type_name}!) {{ {name}(input: $i) {{ id }} }}"
        response = await self.http.post(
            "/graphql", json={"query": document, "variables": {"i": input}}
        )
        body = response.json()
        assert not body.get("errors"), body["errors"]
        result: dict[str, Any] = body["data"][name]
        return result

    async def conversation(self, n: int, messages: int) -> str:
        created = await self.call(
            "createConversation",
            {"owner": {"participantId": "bench"}, "title": f"Conversation {n}", "tags": ["bench"]},
        )
        for m in range(messages):
            assistant = m % 2 == 1
            calls = [
                {
                    "callId": f"c{m}-{k}",
                    "toolName": f"tool_{k}",
                    "arguments": {"q": f"q{m}", "k": k},
                }
                for k in range(2 if assistant and m % 4 == 1 else 0)
            ]
            await self.call(
                "sendMessage",
                {
                    "conversationId": created["id"],
                    "senderId": "agent" if assistant else "bench",
                    "senderType": "AGENT" if assistant else "USER",
                    "role": "ASSISTANT" if assistant else "USER",
                    "content": f"message {m} of conversation {n} " + "lorem ipsum " * 8,
                    "inputTokens": 120 + m,
                    "outputTokens": 40 if assistant else 0,
                    "toolCalls": calls,
                },
            )
        return str(created["id"])

    async def versions(self) -> list[str]:
        return [
            (
                await self.call(
                    "registerComponentVersion",
                    {"componentKey": f"prompt-{v % 3}", "type": "PROMPT", "definition": {"v": v}},
                )
            )["id"]
            for v in range(VERSIONS)
        ]

    async def span(
        self, trace: str, name: str, kind: str, parent: str | None, versions: list[str]
    ) -> str:
        started = await self.call(
            "startSpan",
            {
                "traceId": trace,
                "name": name,
                "kind": kind,
                "parentSpanId": parent,
                "componentVersionIds": versions,
            },
        )
        await self.call("endSpan", {"spanId": started["id"], "inputTokens": 30, "outputTokens": 5})
        return str(started["id"])

    async def page_extras(self, conversation: str) -> None:
        steps = [
            {"description": f"step {s}", "dependsOn": [s - 1] if s else []} for s in range(STEPS)
        ]
        await self.call(
            "createPlan", {"conversationId": conversation, "title": "Plan", "steps": steps}
        )
        versions = await self.versions()
        trace = (await self.call("startTrace", {"conversationId": conversation, "name": "run"}))[
            "id"
        ]
        # Parents end after their children: each span is started and ended in turn, so
        # the agent span is written first and ended first; durations stay small either way.
        agent = await self.span(trace, "agent", "AGENT", None, versions[:1])
        for llm in range(LLM_CALLS):
            call = await self.span(
                trace, f"llm {llm}", "LLM", agent, versions[llm % 3 : llm % 3 + 2]
            )
            for tool in range(TOOLS_PER_LLM_CALL):
                await self.span(
                    trace, f"tool {llm}.{tool}", "TOOL", call, versions[3 + tool % 3 :][:1]
                )


async def seed_dataset(seeder: Seeder) -> str:
    """The dataset; returns the global id of the conversation of the page."""
    page = await seeder.conversation(0, MESSAGES_ON_PAGE)
    await seeder.page_extras(page)
    for n in range(1, CONVERSATIONS):
        await seeder.conversation(n, MESSAGES_ON_LIST)
    return page


async def seed(app: Starlette) -> str:
    """The dataset, written through `app` in process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60) as http:
        return await seed_dataset(Seeder(http))


@dataclass
class Timing:
    """One query in process: ms per run, GraphQL and baseline; ratio = GraphQL / baseline."""

    query: str
    graphql_p50_ms: float
    graphql_p99_ms: float
    baseline_p50_ms: float
    baseline_p99_ms: float
    ratio: float


@dataclass
class Throughput:
    """One query over HTTP at a concurrency; ratio = baseline req/s / GraphQL req/s."""

    query: str
    concurrency: int
    graphql_per_s: float
    graphql_p99_ms: float
    baseline_per_s: float
    baseline_p99_ms: float
    ratio: float


async def timed(run: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    for _ in range(max(3, repeat // 10)):
        await run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await run()
        times.append((time.perf_counter() - start) * 1000)
    return times


def compare(query: str, graphql: list[float], baseline: list[float]) -> Timing:
    g50, b50 = percentile(graphql, 0.5), percentile(baseline, 0.5)
    g99, b99 = percentile(graphql, 0.99), percentile(baseline, 0.99)
    return Timing(
        query, round(g50, 2), round(g99, 2), round(b50, 2), round(b99, 2), round(g50 / b50, 2)
    )


async def in_process(app: Starlette, page_id: str, dsn: str, repeat: int) -> list[Timing]:
    settings: Settings = app.state.settings
    schema = build_schema(settings)
    page_uuid = from_global_id(page_id)[1]
    queries = [
        (
            "conversation page",
            CONVERSATION_PAGE,
            {"id": page_id},
            lambda db: conversation_page(db, page_uuid),
        ),
        ("list page", LIST_PAGE, {}, conversation_list),
    ]
    rows = []
    db = await asyncpg.connect(dsn)
    try:
        for name, document, variables, sql in queries:

            async def graphql(
                document: str = document, variables: dict[str, Any] = variables
            ) -> str:
                context = Context.create(app.state.database, settings, app.state.bus)
                result = await schema.execute(
                    document, variable_values=variables, context_value=context
                )
                assert not result.errors, result.errors
                return json.dumps({"data": result.data}, separators=(",", ":"))

            async def baseline(sql: Callable[[asyncpg.Connection], Awaitable[Any]] = sql) -> str:
                return json.dumps({"data": await sql(db)}, separators=(",", ":"))

            ours, theirs = await graphql(), await baseline()
            if json.loads(ours) != json.loads(theirs):
                raise AssertionError(f"{name}: GraphQL and the baseline differ\n{ours}\n{theirs}")
            rows.append(compare(name, await timed(graphql, repeat), await timed(baseline, repeat)))
    finally:
        await db.close()
    return rows


@dataclass
class Load:
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float


async def load(
    base: str,
    request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    seconds: float,
    concurrency: int,
) -> Load:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        for _ in range(concurrency):
            (await request(http)).raise_for_status()
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await request(http)
                latencies.append((time.perf_counter() - start) * 1000)
                response.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return Load(
        len(latencies),
        len(latencies) / elapsed,
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
    )


async def over_http(
    database_url: str, page_id: str, seconds: float, concurrency: int
) -> list[Throughput]:
    page_uuid = from_global_id(page_id)[1]

    def graphql(
        document: str, variables: dict[str, Any]
    ) -> Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]:
        return lambda http: http.post("/graphql", json={"query": document, "variables": variables})

    def baseline(path: str) -> Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]:
        return lambda http: http.get(path)

    shapes = [
        (
            "conversation page",
            graphql(CONVERSATION_PAGE, {"id": page_id}),
            baseline(f"/conversation/{page_uuid}"),
        ),
        ("list page", graphql(LIST_PAGE, {}), baseline("/conversations")),
    ]
    measured: dict[str, list[Load]] = {name: [] for name, _, _ in shapes}
    commands = [("main.py", "serve"), ("-m", "bench.read_baseline")]
    for index, command in enumerate(commands):
        with server(database_url, command) as running:
            await wait_healthy(running.base)
            for name, *requests in shapes:
                measured[name].append(
                    await load(running.base, requests[index], seconds, concurrency)
                )
    return [
        Throughput(
            name,
            concurrency,
            round(g.per_second, 1),
            round(g.p99_ms, 2),
            round(b.per_second, 1),
            round(b.p99_ms, 2),
            round(b.per_second / g.per_second, 2),
        )
        for name, (g, b) in measured.items()
    ]


async def analyze(database_url: str) -> None:
    """Planner statistics for the seeded tables, as autovacuum would gather them: now,
    rather than at some moment during the measurements."""
    db = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await db.execute("ANALYZE")
    finally:
        await db.close()


async def main(args: argparse.Namespace) -> None:
    async with fresh_database(args.database_url, prefix="threadline_bench") as url:
        settings = Settings(database_url=url, auto_migrate=True, max_page_size=500)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            started = time.perf_counter()
            page_id = await seed(app)
            await dataset.build(app.state.database, args.background, args.background)
            await analyze(url)
            print(f"seeded in {time.perf_counter() - started:.1f} s")
            timings = await in_process(app, page_id, asyncpg_dsn(url), args.repeat)
        loads = await over_http(url, page_id, args.seconds, args.concurrency)
    print("In process (schema execution + JSON), ms; ratio = GraphQL / baseline")
    print_table(
        ("query", "GraphQL p50", "GraphQL p99", "baseline p50", "baseline p99", "ratio"),
        [astuple(t) for t in timings],
    )
    print(f"\nOver HTTP, concurrency {args.concurrency}; ratio = baseline req/s / GraphQL req/s")
    print_table(
        (
            "query",
            "concurrency",
            "GraphQL req/s",
            "GraphQL p99 ms",
            "baseline req/s",
            "baseline p99 ms",
            "ratio",
        ),
        [astuple(t) for t in loads],
    )
    write_results(
        "deep_read",
        {"in_process": [asdict(t) for t in timings], "http": [asdict(t) for t in loads]},
    )


if __name__ == "__main__":
    parser = parser_on_postgres(__doc__)
    parser.add_argument("--repeat", type=int, default=200, help="in-process runs per query")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="HTTP load per server and query"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--background",
        type=int,
        default=1000,
        help="older conversations around the measured ones (bench.dataset), as many traces",
    )
    asyncio.run(main(parser.parse_args()))
