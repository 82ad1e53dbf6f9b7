"""What Threadline stored, read back through GraphQL, and the checks every run shares:
tool calls closed with the tool's own output, and one account of usage everywhere."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.graphql_client import GraphQLClient
from tests.web.instrumented.fake_provider import TOOL_ARGUMENTS, Usage
from tests.web.instrumented.harness import TOOL_NAME, TOOL_RESULT, expected_cost

CONVERSATIONS = "{ conversations(first: 10) { edges { node { id } } } }"
CONVERSATION = """query($id: ID!) { conversation(id: $id) {
  inputTokens outputTokens totalTokens cost
  participants { participantId participantType }
  messages(first: 50) { nodes {
    role content senderId
    toolCalls { callId toolName arguments result status span { kind name } }
  } }
  traces(first: 20) { nodes {
    startedAt totalTokens cost
    rootSpans { kind name children { kind name children { kind name } } }
  } }
} }"""
TOTALS = "inputTokens outputTokens totalTokens cost"
USAGE = f"""{{ all: usage {{ {TOTALS} }}
  byConversation: usage(groupBy: [CONVERSATION]) {{ conversation {{ id }} {TOTALS} }} }}"""
USAGE_OF = f"""query($id: ID!) {{
  usage(filter: {{conversationIds: [$id]}}) {{ {TOTALS} }} }}"""


async def stored_conversation(gql: GraphQLClient) -> dict[str, Any]:
    """The one conversation the run made (every test starts on an empty database), with
    its id."""
    edges = (await gql.data(CONVERSATIONS))["conversations"]["edges"]
    assert len(edges) == 1, f"one conversation expected, found {len(edges)}"
    conversation_id = edges[0]["node"]["id"]
    found: dict[str, Any] = (await gql.data(CONVERSATION, {"id": conversation_id}))["conversation"]
    return {"id": conversation_id, **found}


def transcript(conversation: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, content) of each message, in order."""
    return [(m["role"], m["content"]) for m in conversation["messages"]["nodes"]]


def senders(conversation: dict[str, Any], role: str) -> set[str]:
    return {m["senderId"] for m in conversation["messages"]["nodes"] if m["role"] == role}


def participants(conversation: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["participantId"], p["participantType"]) for p in conversation["participants"]}


def span_trees(conversation: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Each trace's root spans as (kind, name, children...) trees, traces by start."""
    traces = sorted(conversation["traces"]["nodes"], key=lambda t: t["startedAt"])
    return [_tree(root) for trace in traces for root in trace["rootSpans"]]


def _tree(span: dict[str, Any]) -> tuple[Any, ...]:
    children = tuple(_tree(child) for child in span.get("children") or [])
    return (span["kind"], span["name"], *([children] if children else []))


def assert_tool_calls_closed(
    conversation: dict[str, Any], asked: list[str], span: tuple[str, str] | None = None
) -> None:
    """Every call the model asked for (`asked`: their ids) is there, COMPLETED, with what
    the tool returned; `span` (kind, name): the span that ran it, when the run has one."""
    calls = [c for m in conversation["messages"]["nodes"] for c in m["toolCalls"]]
    assert [c["callId"] for c in calls] == asked
    for call in calls:
        assert (call["toolName"], call["arguments"]) == (TOOL_NAME, TOOL_ARGUMENTS)
        assert (call["status"], call["result"]) == ("COMPLETED", TOOL_RESULT), call
        if span is not None:
            assert call["span"] == {"kind": span[0], "name": span[1]}, call


def _money(value: float) -> Decimal:
    """A cost as GraphQL rendered it: float noise (0.015220000000000001) stays visible."""
    return Decimal(repr(value))


def _totals(row: dict[str, Any]) -> tuple[int, int, int, Decimal]:
    return (row["inputTokens"], row["outputTokens"], row["totalTokens"], _money(row["cost"]))


async def assert_usage_accounted(
    gql: GraphQLClient, conversation: dict[str, Any], usage: Usage
) -> None:
    """The provider's usage, priced as gpt-4o-mini, is what the conversation, its traces
    and `usage` (whole, grouped by conversation, filtered to it) all say, exactly."""
    cost = expected_cost(usage)
    expected = (usage.input_tokens, usage.output_tokens, usage.total_tokens, cost)
    assert cost > 0
    assert _totals(conversation) == expected
    traces = conversation["traces"]["nodes"]
    assert sum(t["totalTokens"] for t in traces) == usage.total_tokens
    assert sum(_money(t["cost"]) for t in traces) == cost
    found = await gql.data(USAGE)
    assert [_totals(group) for group in found["all"]] == [expected]
    [group] = found["byConversation"]
    assert (group["conversation"]["id"], _totals(group)) == (conversation["id"], expected)
    [only] = (await gql.data(USAGE_OF, {"id": conversation["id"]}))["usage"]
    assert _totals(only) == expected
