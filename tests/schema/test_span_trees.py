"""`Trace.analysis` and `Span.subtree` on a deep random tree, against a brute force; what
they cost in statements; and a cycle of stored parents.

The brute force works on whole milliseconds: a span's child time is the number of
milliseconds at least one of its ended children ran within it, counted one by one.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from resolvers.ids import from_global_id
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.schema.test_trace_analysis import ANALYSIS, SUBTREES, a_span, otlp_span, post

KINDS = ["LLM", "TOOL", "CHAIN"]
MANY = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Trace { analysis {
  spanCount totalTokens criticalPath { name } errorSpans { name }
  timeByKind { kind count selfMs } spanTimes { span { name } childMs } }
  spans(first: 50) { nodes { subtree { spanCount totalTokens } } } } } }"""


@dataclass
class Drawn:
    name: str
    kind: str
    start: int
    end: int | None
    parent: str | None
    tokens: int
    error: bool
    id: uuid.UUID | None = None


def draw(rng: random.Random, count: int) -> list[Drawn]:
    """A chain of a third of the spans (a deep tree), then spans under random earlier
    ones; some still running, some failed, children not always inside their parent."""
    spans: list[Drawn] = []
    for n in range(count):
        parent = None if n == 0 else spans[n - 1 if n < count // 3 else rng.randrange(n)].name
        start = rng.randrange(0, 2000)
        end = None if rng.random() < 0.1 else start + rng.randrange(1, 800)
        # A span reports its tokens, or fails, as it ends.
        tokens = 0 if end is None else rng.randrange(0, 50)
        failed = end is not None and rng.random() < 0.2
        spans.append(Drawn(f"s{n}", rng.choice(KINDS), start, end, parent, tokens, failed))
    return spans


async def write(gql: GraphQLClient, spans: list[Drawn]) -> str:
    conv = (await factories.conversation(gql))["id"]
    trace = str((await factories.trace(gql, conv))["id"])
    ids: dict[str, str] = {}
    for s in spans:
        end = {"inputTokens": s.tokens, **({"status": "ERROR"} if s.error else {})}
        parent = ids[s.parent] if s.parent else None
        ids[s.name] = await a_span(gql, trace, s.name, s.kind, (s.start, s.end), parent, **end)
        s.id = from_global_id(ids[s.name])[1]
    return trace


def child_ms(span: Drawn, children: list[Drawn]) -> int | None:
    if span.end is None:
        return None
    busy = {
        ms
        for c in children
        if c.end is not None
        for ms in range(max(c.start, span.start), min(c.end, span.end))
    }
    return len(busy)


def critical_path(spans: list[Drawn], children: dict[str | None, list[Drawn]]) -> list[str]:
    def last(candidates: list[Drawn]) -> Drawn | None:
        ended = [c for c in candidates if c.end is not None]
        return min(ended, key=lambda c: (-(c.end or 0), c.start, c.id), default=None)

    path, step = [], last(children[None])
    while step is not None:
        path.append(step.name)
        step = last(children[step.name])
    return path


def below(name: str, children: dict[str | None, list[Drawn]]) -> list[Drawn]:
    found = [c for c in children[name]]
    for child in children[name]:
        found += below(child.name, children)
    return found


async def test_a_deep_random_tree(gql: GraphQLClient) -> None:
    spans = draw(random.Random(16), 70)
    trace = await write(gql, spans)
    children: dict[str | None, list[Drawn]] = defaultdict(list)
    for s in spans:
        children[s.parent].append(s)
    found = (await gql.data(ANALYSIS, {"id": trace}))["trace"]["analysis"]
    assert [t["span"]["name"] for t in found["spanTimes"]] == [
        s.name for s in sorted(spans, key=lambda s: (s.start, s.id))
    ]
    assert {t["span"]["name"]: t["childMs"] for t in found["spanTimes"]} == {
        s.name: child_ms(s, children[s.name]) for s in spans
    }
    assert [s["name"] for s in found["criticalPath"]] == critical_path(spans, children)
    by_kind = {k["kind"]: (k["count"], k["selfMs"], k["errorCount"]) for k in found["timeByKind"]}
    expected = {}
    for kind in {s.kind for s in spans}:
        mine = [s for s in spans if s.kind == kind]
        own = [(s.end - s.start) - (child_ms(s, children[s.name]) or 0) for s in mine if s.end]
        expected[kind] = (len(mine), sum(own), sum(s.error for s in mine))
    assert by_kind == expected
    subtrees = (await gql.data(SUBTREES.replace("50", "100"), {"id": trace}))["trace"]["spans"]
    assert {s["name"]: s["subtree"]["totalTokens"] for s in subtrees["nodes"]} == {
        s.name: s.tokens + sum(c.tokens for c in below(s.name, children)) for s in spans
    }


@pytest.mark.parametrize("traces", [1, 4])
async def test_statements_do_not_grow_with_traces(
    gql: GraphQLClient, sql: StatementCounter, traces: int
) -> None:
    ids = [await write(gql, draw(random.Random(n), 6)) for n in range(traces)]
    sql.reset()
    found = (await gql.data(MANY, {"ids": ids}))["nodes"]
    assert [t["analysis"]["spanCount"] for t in found] == [6] * traces
    # The traces, their spans' columns, the rows of spanTimes' spans, the paths' and
    # errors' spans unless already read, the pages of spans: as many for 1 trace as for 4.
    assert sql.count <= 5, sql.statements


async def test_a_cycle_of_parents(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    """A malformed export: a's parent is b and b's is a. Each arrived after the other
    was stored, so ingestion linked both: no root, and each subtree holds both spans."""
    a, b = "00000000000000b1", "00000000000000b2"
    await post(http, otlp_span(a, b, (0, 100)))
    await post(http, otlp_span(b, a, (10, 50)))
    (trace,) = (await gql.data("{ traces(first: 5) { nodes { id } } }"))["traces"]["nodes"]
    spans = (await gql.data(SUBTREES, {"id": trace["id"]}))["trace"]["spans"]["nodes"]
    assert [s["subtree"]["spanCount"] for s in spans] == [2, 2]
    analysis: Any = (await gql.data(ANALYSIS, {"id": trace["id"]}))["trace"]["analysis"]
    assert (analysis["spanCount"], analysis["criticalPath"]) == (2, [])
    # Each is the other's child: b ran 40 ms within a, and a all of b's 40 ms.
    assert [t["childMs"] for t in analysis["spanTimes"]] == [40, 40]


# Three requests: in one, loads of different levels could share a batch or not, by timing.
SPAN_TREE_READS = [
    "query($id: ID!) { trace(id: $id) { rootSpans { id children { id children { name } } } } }",
    "query($id: ID!) { trace(id: $id) { spans(last: 5) { nodes { id children { name } } } } }",
    """query($id: ID!) { trace(id: $id) { analysis {
      spanCount criticalPath { name } spanTimes { selfMs span { name } } } } }""",
]


async def test_statements_do_not_grow_with_the_trace(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    counts = []
    for size in (6, 90):
        trace = await write(gql, draw(random.Random(size), size))
        found = []
        for document in SPAN_TREE_READS:
            sql.reset()
            await gql.data(document, {"id": trace})
            found.append(sql.count)
        counts.append(found)
    assert counts[0] == counts[1], counts
