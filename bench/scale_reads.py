"""The reads of issue 16's table (and sendMessage), timed through the real /graphql
endpoint of an in-process app (httpx's ASGI transport, the app's lifespan run), with the
server's settings: its default statement timeout included, so a read that takes too long
fails the way it would in a deployment.

Each read runs once to warm up, then `runs` times: the figure is the p50. A read that
answers with an error (a timeout, an overflow) is reported with its `extensions.code`
instead, and not run again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from bench.analytics import METRICS, SCORES, SEARCH, VERSIONS
from bench.deep_read import CONVERSATION_PAGE
from bench.harness import percentile
from bench.scale_data import (
    BIG_CONVERSATION,
    BIG_TRACE,
    COMMON_WORD,
    HUGE_CONVERSATION,
    HUGE_TRACE,
    RARE_WORD,
    huge_message,
)
from resolvers.ids import to_global_id
from resolvers.pagination import encode_cursor

CONVERSATION_LIST = """query($f: ConversationFilter) {
  conversations(first: 50, filter: $f) {
    totalCount
    nodes { id title status messageCount totalTokens cost lastActivityAt
      lastMessage { id role content createdAt } } } }"""
USAGE = """query($g: [UsageGroupBy!], $from: DateTime, $to: DateTime) {
  usage(groupBy: $g, from: $from, to: $to) {
    model provider spanKind userId period componentVersion { id }
    count inputTokens outputTokens totalTokens cost
    latencyP50Ms latencyP95Ms latencyP99Ms errorCount errorRate } }"""
SPANS = """query($f: SpanFilter, $o: SpanOrder, $count: Boolean!) {
  spans(filter: $f, orderBy: $o, first: 50) {
    totalCount @include(if: $count)
    nodes { id name durationMs totalTokens } } }"""
ANALYSIS = """query($id: ID!) { trace(id: $id) { analysis {
  durationMs spanCount totalTokens cost errorCount errorSpans { id }
  criticalPath { id } timeByKind { kind count selfMs } spanTimes { durationMs childMs selfMs }
} } }"""
SEND = """mutation($i: SendMessageInput!) { sendMessage(input: $i) { id seq } }"""
# Issue 22's reads of the huge conversation and trace (bench/scale_data.py, HUGE_ROWS).
MESSAGE_PAGE = """query($id: ID!, $first: Int, $last: Int, $after: String, $before: String) {
  conversation(id: $id) { messages(first: $first, last: $last, after: $after, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { id seq role senderId content createdAt totalTokens } } } }"""
CONTEXT_WINDOW = """query($id: ID!, $n: Int) {
  contextWindow(conversationId: $id, lastN: $n) {
    tokenCount truncated messages { id role content } } }"""
SPAN = "id name kind status startedAt durationMs totalTokens"
SPAN_TREE = f"""query($id: ID!) {{ trace(id: $id) {{
  rootSpans {{ {SPAN} children {{ {SPAN} children {{ {SPAN} }} }} }} }} }}"""
SPAN_PAGE_TREE = f"""query($id: ID!) {{ trace(id: $id) {{
  spans(first: 50) {{ nodes {{ {SPAN} children {{ {SPAN} }} }} }} }} }}"""


# Issue 22's analysts' questions: the costliest conversations with their models, and
# which tools fail (a week of failures, and one tool's).
COSTLIEST = """{ conversations(orderBy: {field: COST}, first: 5) {
  nodes { title cost messageCount modelsUsed { model calls totalTokens cost } } } }"""
FAILED_TOOL_CALLS = """query($f: ToolCallFilter) { toolCalls(filter: $f, first: 20) {
  totalCount nodes { toolName error startedAt } } }"""
# ...and `usage` ordered and cut: which tool fails most, the slowest span names, usage
# per agent and status, the costliest conversations (issue 22).
TOP_USAGE = """query($g: [UsageGroupBy!], $f: UsageFilter, $o: UsageOrder, $first: Int,
  $from: DateTime, $to: DateTime) {
  usage(groupBy: $g, filter: $f, orderBy: $o, first: $first, from: $from, to: $to) {
    status spanName tool agentId conversation { id }
    count totalTokens cost errorCount errorRate latencyP50Ms latencyP95Ms } }"""


@dataclass(frozen=True)
class Targets:
    """What the reads are about, found in the dataset before they run."""

    # The end of the data (its newest trace): "the last 7 days" are the 7 days before it.
    newest: datetime
    # A small conversation of user-0, whom both callers may write in.
    writable_conversation: str
    # The seq of the huge conversation's middle message (on its latest branch).
    huge_middle: int

    @property
    def huge_middle_cursor(self) -> str:
        return encode_cursor(self.huge_middle, str(huge_message(self.huge_middle)))

    @property
    def week(self) -> dict[str, str]:
        return {
            "from": (self.newest - timedelta(days=7)).isoformat(),
            "to": self.newest.isoformat(),
        }


GROUPS_ALL_TIME = ("MODEL", "DAY", "COMPONENT_VERSION", "USER")
GROUPS_WEEK = ("MODEL", "DAY", "COMPONENT_VERSION")
SEND_MESSAGE = "sendMessage"


def reads(targets: Targets) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, document, variables) of each timed request, in the order they run."""
    spans = {
        "f": {"kinds": ["LLM"], "statuses": ["OK"], "models": ["gpt-4o"]},
        "o": {"field": "DURATION", "direction": "DESC"},
    }
    return [
        ("conversations page, tag filter", CONVERSATION_LIST, {"f": {"tag": "support"}}),
        (
            "deep conversation page",
            CONVERSATION_PAGE,
            {"id": to_global_id("Conversation", BIG_CONVERSATION)},
        ),
        ("usage all time", USAGE, {"g": []}),
        *((f"usage all time by {g}", USAGE, {"g": [g]}) for g in GROUPS_ALL_TIME),
        *((f"usage 7 days by {g}", USAGE, {"g": [g], **targets.week}) for g in GROUPS_WEEK),
        ("search rare word (+spans)", SEARCH, {"q": RARE_WORD, "spans": True}),
        ("search common word", SEARCH, {"q": COMMON_WORD, "spans": False}),
        ("search common word (+spans)", SEARCH, {"q": COMMON_WORD, "spans": True}),
        ("spans kind+status+model by duration", SPANS, {**spans, "count": False}),
        ("  with totalCount", SPANS, {**spans, "count": True}),
        ("scoreSummary by version", SCORES, {"v": True}),
        ("versionComparison", VERSIONS, {}),
        ("metrics of 50 conversations", METRICS, {}),
        ("Trace.analysis, 2,500 spans", ANALYSIS, {"id": to_global_id("Trace", BIG_TRACE)}),
        *analyst_reads(targets),
        *huge_reads(targets),
    ]


def analyst_reads(targets: Targets) -> list[tuple[str, str, dict[str, Any]]]:
    failed = {"statuses": ["FAILED"], "startedAfter": targets.week["from"]}
    return [
        ("5 costliest conversations + modelsUsed", COSTLIEST, {}),
        ("failed tool calls, 7 days (+totalCount)", FAILED_TOOL_CALLS, {"f": failed}),
        (
            "  of one tool",
            FAILED_TOOL_CALLS,
            {"f": {**failed, "toolNames": ["lookup_order"]}},
        ),
        *usage_top_reads(targets),
    ]


def usage_top_reads(targets: Targets) -> list[tuple[str, str, dict[str, Any]]]:
    slowest = {"measure": "LATENCY_P95", "direction": "DESC"}
    return [
        (
            "which tool fails most: TOOL top 5 by errors",
            TOP_USAGE,
            {
                "g": ["TOOL"],
                "f": {"kinds": ["TOOL"]},
                "o": {"measure": "ERROR_COUNT", "direction": "DESC"},
                "first": 5,
            },
        ),
        (
            "usage 7 days by SPAN_NAME, top 10 by p95",
            TOP_USAGE,
            {"g": ["SPAN_NAME"], "o": slowest, "first": 10, **targets.week},
        ),
        ("usage all time by AGENT", TOP_USAGE, {"g": ["AGENT"]}),
        ("usage all time by STATUS", TOP_USAGE, {"g": ["STATUS"]}),
        (
            "usage top 5 CONVERSATION by COST",
            TOP_USAGE,
            {"g": ["CONVERSATION"], "o": {"measure": "COST"}, "first": 5},
        ),
    ]


def huge_reads(targets: Targets) -> list[tuple[str, str, dict[str, Any]]]:
    """Pages and the context window of the huge conversation; the huge trace's tree
    and analysis."""
    conversation = {"id": to_global_id("Conversation", HUGE_CONVERSATION)}
    trace = {"id": to_global_id("Trace", HUGE_TRACE)}
    middle = targets.huge_middle_cursor
    return [
        ("huge conversation: first 50", MESSAGE_PAGE, {**conversation, "first": 50}),
        ("  last 50", MESSAGE_PAGE, {**conversation, "last": 50}),
        ("  50 after the middle", MESSAGE_PAGE, {**conversation, "first": 50, "after": middle}),
        ("  50 before the middle", MESSAGE_PAGE, {**conversation, "last": 50, "before": middle}),
        ("  contextWindow(lastN: 20)", CONTEXT_WINDOW, {**conversation, "n": 20}),
        ("  contextWindow", CONTEXT_WINDOW, conversation),
        ("huge trace: span tree, 3 levels", SPAN_TREE, trace),
        ("  50 spans and their children", SPAN_PAGE_TREE, trace),
        ("  Trace.analysis", ANALYSIS, trace),
    ]


def message(targets: Targets) -> dict[str, Any]:
    """A user's question, sent as user-0 (development mode may send as anybody)."""
    content = f"where is my {COMMON_WORD}?"
    return {
        "i": {
            "conversationId": targets.writable_conversation,
            "senderId": "user-0",
            "content": content,
        }
    }


@dataclass(frozen=True)
class Timing:
    p50_ms: float | None = None
    error: str | None = None

    def __str__(self) -> str:
        return f"ERROR {self.error}" if self.error else f"{self.p50_ms:.1f}"


def error_code(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    errors = response.json().get("errors")
    if not errors:
        return None
    code: str = (errors[0].get("extensions") or {}).get("code", "UNKNOWN")
    return code


class Caller:
    """One client of the endpoint, with its credential."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str], runs: int) -> None:
        self.http, self.headers, self.runs = http, headers, runs

    async def once(self, document: str, variables: dict[str, Any]) -> tuple[float, str | None]:
        started = time.perf_counter()
        response = await self.http.post(
            "/graphql", json={"query": document, "variables": variables}, headers=self.headers
        )
        return (time.perf_counter() - started) * 1000, error_code(response)

    async def timed(self, document: str, variables: dict[str, Any]) -> Timing:
        took = []
        for run in range(self.runs + 1):
            ms, error = await self.once(document, variables)
            if error:
                return Timing(error=error)
            if run:  # the first run warms up
                took.append(ms)
        return Timing(p50_ms=round(percentile(took, 0.5), 1))

    async def all(self, targets: Targets) -> dict[str, Timing]:
        """Every read, then sendMessage (a write: the reads see the data as built)."""
        found = {}
        for name, document, variables in [*reads(targets), (SEND_MESSAGE, SEND, message(targets))]:
            found[name] = await self.timed(document, variables)
            print(f"    {name:<40} {found[name]}", flush=True)
        return found
