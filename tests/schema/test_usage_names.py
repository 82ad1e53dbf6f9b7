"""`usage` grouped by STATUS, SPAN_NAME, TOOL and AGENT through /graphql.

One conversation, all UTC:
  trace T1 (agent planner)
    s1 LLM   chat          05-01 23:00  100 ms  10/5 tokens  0.01  OK
    s2 TOOL  lookup_order  05-01 23:10  300 ms                     ERROR
    s3 TOOL  lookup_order  05-02 00:30   50 ms                     OK
    s4 TOOL  send_email    05-02 01:00   20 ms                     ERROR
  trace T2 (no agent)
    s5 TOOL  send_email    05-02 01:30   40 ms                     OK
    s6 CHAIN plan          05-02 02:00  never ended                UNSET
  model-call messages (sent now): m1 planner (agent) COMPLETE 5 tokens 80 ms; m2 user-1
  COMPLETE 3 tokens 60 ms; m3 planner (agent) ERROR 2 tokens 70 ms.
A TOOL span's tool is its name (startSpan names no other).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user, register_agent

USAGE = """
query($f: UsageFilter, $g: [UsageGroupBy!], $from: DateTime, $to: DateTime) {
  usage(filter: $f, groupBy: $g, from: $from, to: $to) {
    status spanName tool agentId spanKind period
    count inputTokens errorCount latencyP50Ms latencyMaxMs
  }
}"""
KEYS = ("status", "spanName", "tool", "agentId", "spanKind", "period")


def at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=UTC)


async def a_span(
    gql: GraphQLClient, trace: str, kind: str, start: datetime, duration: int | None, **ended: Any
) -> None:
    """A span named `name` (in `ended`), ended after `duration` ms with the rest of `ended`."""
    name = ended.pop("name")
    span = await factories.span(gql, trace, kind=kind, name=name, startedAt=start.isoformat())
    if duration is not None:
        end = (start + timedelta(milliseconds=duration)).isoformat()
        await factories.end_span(gql, span["id"], endedAt=end, **ended)


async def build(gql: GraphQLClient, agent: str = "planner") -> str:
    agents = [{"participantId": agent, "participantType": "AGENT"}]
    conversation = (await factories.conversation(gql, participants=agents))["id"]
    await factories.message(
        gql, conversation, senderId=agent, senderType="AGENT", role="ASSISTANT",
        inputTokens=5, cost=0.5, latencyMs=80,
    )  # fmt: skip
    await factories.message(gql, conversation, inputTokens=3, latencyMs=60)
    await factories.message(
        gql, conversation, senderId=agent, senderType="AGENT", role="ASSISTANT",
        inputTokens=2, latencyMs=70, status="ERROR",
    )  # fmt: skip
    t1 = (await factories.trace(gql, conversation, agentId=agent))["id"]
    t2 = (await factories.trace(gql, conversation))["id"]
    await a_span(gql, t1, "LLM", at(1, 23, 0), 100, name="chat", inputTokens=10, outputTokens=5)
    await a_span(gql, t1, "TOOL", at(1, 23, 10), 300, name="lookup_order", status="ERROR")
    await a_span(gql, t1, "TOOL", at(2, 0, 30), 50, name="lookup_order")
    await a_span(gql, t1, "TOOL", at(2, 1, 0), 20, name="send_email", status="ERROR")
    await a_span(gql, t2, "TOOL", at(2, 1, 30), 40, name="send_email")
    await a_span(gql, t2, "CHAIN", at(2, 2, 0), None, name="plan")
    return str(conversation)


async def usage(gql: GraphQLClient, **variables: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await gql.data(USAGE, variables))["usage"]
    return found


def keyed(groups: list[dict[str, Any]], *names: str) -> list[tuple[Any, ...]]:
    """Each group's keys (those named) and counts, checking the other keys are unset."""
    for group in groups:
        assert all(group[k] is None for k in KEYS if k not in names), group
    return [(*(g[n] for n in names), g["count"], g["errorCount"]) for g in groups]


async def test_by_tool(gql: GraphQLClient) -> None:
    await build(gql)
    found = await usage(gql, g=["TOOL"])
    assert keyed(found, "tool") == [("lookup_order", 2, 1), ("send_email", 2, 1), (None, 5, 1)]
    assert [(g["latencyP50Ms"], g["latencyMaxMs"]) for g in found] == [
        (50, 300),
        (20, 40),
        (70, 100),  # [60, 70, 80, 100]: s6 has no duration
    ]
    # Tokens of what used no tool: s1 and the three messages.
    assert found[-1]["inputTokens"] == 20
    tools = await usage(gql, g=["TOOL", "DAY"], f={"kinds": ["TOOL"]})
    assert [(g["tool"], g["period"][:10], g["count"]) for g in tools] == [
        ("lookup_order", "2024-05-01", 1),
        ("lookup_order", "2024-05-02", 1),
        ("send_email", "2024-05-02", 2),
    ]


async def test_by_status_name_and_agent(gql: GraphQLClient) -> None:
    await build(gql)
    statuses = await usage(gql, g=["STATUS"])
    # A complete message counts as OK, a failed one as ERROR.
    assert keyed(statuses, "status") == [("ERROR", 3, 3), ("OK", 5, 0), ("UNSET", 1, 0)]
    names = await usage(gql, g=["SPAN_NAME"])
    assert keyed(names, "spanName") == [
        ("chat", 1, 0),
        ("lookup_order", 2, 1),
        ("plan", 1, 0),
        ("send_email", 2, 1),
        (None, 3, 1),  # the messages
    ]
    agents = await usage(gql, g=["AGENT"])
    # T1's spans and the agent's messages; T2's spans and the user's message.
    assert keyed(agents, "agentId") == [("planner", 6, 3), (None, 3, 0)]
    both = await usage(gql, g=["AGENT", "SPAN_KIND", "STATUS"])
    assert keyed(both, "agentId", "spanKind", "status") == [
        ("planner", "LLM", "ERROR", 1, 1),
        ("planner", "LLM", "OK", 2, 0),
        ("planner", "TOOL", "ERROR", 2, 2),
        ("planner", "TOOL", "OK", 1, 0),
        (None, "CHAIN", "UNSET", 1, 0),
        (None, "LLM", "OK", 1, 0),
        (None, "TOOL", "OK", 1, 0),
    ]


async def test_ragged_ranges_and_filters(gql: GraphQLClient) -> None:
    """A range with a whole day inside and ragged ends; filters the per-name days do not
    hold (a conversation, a model) read the rows."""
    conversation = await build(gql)
    span = {"from": at(1, 23, 5).isoformat(), "to": at(3, 0, 30).isoformat()}
    found = await usage(gql, g=["TOOL"], **span)
    assert keyed(found, "tool") == [("lookup_order", 2, 1), ("send_email", 2, 1), (None, 1, 0)]
    inside = await usage(gql, g=["STATUS"], f={"conversationId": conversation}, **span)
    assert keyed(inside, "status") == [("ERROR", 2, 2), ("OK", 2, 0), ("UNSET", 1, 0)]
    assert await usage(gql, g=["AGENT"], f={"models": ["none"]}) == []


async def test_a_stranger_sees_none_of_anothers_names(secured_http: httpx.AsyncClient) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    await register_agent(alice, "alice-bot")
    conversation = (
        await factories.conversation(
            alice,
            owner={"participantId": "alice"},
            participants=[{"participantId": "alice-bot", "participantType": "AGENT"}],
        )
    )["id"]
    await factories.message(
        alice, conversation, senderId="alice-bot", senderType="AGENT", role="ASSISTANT",
        inputTokens=4,
    )  # fmt: skip
    trace = (await factories.trace(alice, conversation, agentId="alice-bot"))["id"]
    await a_span(alice, trace, "TOOL", at(1, 0, 0), 10, name="alice_secret_tool", status="ERROR")
    own = (await factories.conversation(carol, owner={"participantId": "carol"}))["id"]
    own_trace = (await factories.trace(carol, own))["id"]
    await a_span(carol, own_trace, "TOOL", at(1, 0, 0), 10, name="carol_tool")
    for grouping, key in (("TOOL", "tool"), ("SPAN_NAME", "spanName")):
        assert keyed(await usage(carol, g=[grouping]), key) == [("carol_tool", 1, 0)]
        assert keyed(await usage(alice, g=[grouping]), key) == [
            ("alice_secret_tool", 1, 1),
            (None, 1, 0),
        ]
    assert keyed(await usage(carol, g=["AGENT"]), "agentId") == [(None, 1, 0)]
    assert keyed(await usage(carol, g=["STATUS"]), "status") == [("OK", 1, 0)]
    assert keyed(await usage(alice, g=["AGENT"]), "agentId") == [("alice-bot", 2, 1)]
    # Naming alice's conversation shows carol nothing of it.
    for grouping in ("TOOL", "AGENT", "SPAN_NAME", "STATUS"):
        assert await usage(carol, g=[grouping], f={"conversationId": conversation}) == []
