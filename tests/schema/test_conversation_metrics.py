"""`Conversation.metrics` through /graphql, with numbers worked out by hand.

Conversation C1 (messages: role, parent, tokens in/out, cost, latencyMs, tool calls):
  m1 USER                  5/0   0.00
  m2 ASSISTANT  <- m1     10/20  0.01  100 ms  search COMPLETED, search FAILED
  m3 ASSISTANT  <- m1     10/30  0.02  300 ms  (regenerated: m1 is still one turn)
  m4 USER       <- m3      7/0
  m5 ASSISTANT  <- m4     10/10  0.03  200 ms  calc COMPLETED
  m6 ASSISTANT  <- m5      0/5   0.00  no latency reported (left out of the latency)
  m7 USER       <- m6      1/0         unanswered: no turn
  plan A: steps COMPLETED, FAILED, PENDING; plan B: one step COMPLETED -> 2 of 4 done
Turns 2 (m1, m4). Latencies [100, 200, 300]: mean 200, nearest-rank p95 the 3rd, 300.
Conversation C2 has nothing: zeros, every role listed, null latency and completion.
Conversation C3: an agent asks, is answered after 1.5 s, completes; a second session
asks, is answered after 0.25 s, asks again and waits (no time yet): 1750 ms, 3 asked,
2 answered (event times are set by hand after the run).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col
from starlette.applications import Starlette

from models import Event
from models.enums import EventKind
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.schema.test_agent_runs import run

METRICS = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Conversation { metrics {
  turns messageCount inputTokens outputTokens totalTokens cost
  messagesByRole { role count inputTokens outputTokens totalTokens cost }
  answerLatencyAvgMs answerLatencyP95Ms
  toolCallCount toolCalls { toolName count errorCount errorRate }
  planStepsDone planStepsTotal planCompletion
  questionsAsked questionsAnswered waitingOnUserMs } } } }"""
STEP = """mutation($s: ID!, $status: StepStatus!) {
  updateStepStatus(input: {stepId: $s, status: $status}) { id } }"""


async def say(gql: GraphQLClient, conv: str, role: str, parent: str | None, **more: Any) -> str:
    if parent is not None:
        more["parentMessageId"] = parent
    sender = "user-1" if role == "USER" else "agent-1"
    found = await factories.message(gql, conv, role=role, senderId=sender, **more)
    return str(found["id"])


def tool(name: str, status: str) -> dict[str, Any]:
    return {"callId": f"{name}-{status}", "toolName": name, "status": status}


async def build_c1(gql: GraphQLClient) -> str:
    c1 = (await factories.conversation(gql))["id"]
    m1 = await say(gql, c1, "USER", None, inputTokens=5)
    calls = [tool("search", "COMPLETED"), tool("search", "FAILED")]
    usage = {"inputTokens": 10, "outputTokens": 20, "cost": 0.01, "latencyMs": 100}
    await say(gql, c1, "ASSISTANT", m1, toolCalls=calls, **usage)
    usage = {"inputTokens": 10, "outputTokens": 30, "cost": 0.02, "latencyMs": 300}
    m3 = await say(gql, c1, "ASSISTANT", m1, **usage)
    m4 = await say(gql, c1, "USER", m3, inputTokens=7)
    usage = {"inputTokens": 10, "outputTokens": 10, "cost": 0.03, "latencyMs": 200}
    m5 = await say(gql, c1, "ASSISTANT", m4, toolCalls=[tool("calc", "COMPLETED")], **usage)
    m6 = await say(gql, c1, "ASSISTANT", m5, outputTokens=5)
    await say(gql, c1, "USER", m6, inputTokens=1)
    for outcomes in (["COMPLETED", "FAILED", None], ["COMPLETED"]):
        plan = await factories.plan(gql, c1, [[] for _ in outcomes], fields="steps { id }")
        for step, outcome in zip(plan["steps"], outcomes, strict=True):
            if outcome is not None:
                await gql.data(STEP, {"s": step["id"], "status": "RUNNING"})
                await gql.data(STEP, {"s": step["id"], "status": outcome})
    return str(c1)


async def build_c3(gql: GraphQLClient, app: Starlette) -> str:
    c3 = (await factories.conversation(gql))["id"]
    answer = {"conversationId": c3, "senderId": "user-1"}
    await run(gql, "startAgentSession", conversationId=c3, profileName="agent-1")
    await run(gql, "askUser", conversationId=c3, question="which region?")
    await run(gql, "answerAgent", answer="EU", **answer)
    await run(gql, "completeRun", conversationId=c3)
    await run(gql, "startAgentSession", conversationId=c3, profileName="agent-1")
    await run(gql, "askUser", conversationId=c3, question="which year?")
    await run(gql, "answerAgent", answer="2024", **answer)
    await run(gql, "askUser", conversationId=c3, question="which month?")
    # ask, answer (+1.5 s), ask (+10 s), answer (+0.25 s), ask (+20 s, still open)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    times = [start + timedelta(milliseconds=ms) for ms in (0, 1500, 10000, 10250, 20000)]
    async with app.state.engine.begin() as connection:
        exchange = (EventKind.ASK_USER, EventKind.USER_ANSWER)
        ids = (
            await connection.execute(
                select(col(Event.id)).where(col(Event.kind).in_(exchange)).order_by(col(Event.seq))
            )
        ).all()
        assert len(ids) == len(times)
        for (event_id,), at in zip(ids, times, strict=True):
            await connection.execute(
                update(Event).where(col(Event.id) == event_id).values(created_at=at)
            )
    return str(c3)


def role(name: str, count: int, tokens: tuple[int, int], cost: float) -> dict[str, Any]:
    return {
        "role": name,
        "count": count,
        "inputTokens": tokens[0],
        "outputTokens": tokens[1],
        "totalTokens": sum(tokens),
        "cost": pytest.approx(cost),
    }


NO_ROLES = [role(name, 0, (0, 0), 0.0) for name in ("USER", "ASSISTANT", "SYSTEM", "TOOL")]


async def metrics(gql: GraphQLClient, *ids: str) -> list[dict[str, Any]]:
    return [node["metrics"] for node in (await gql.data(METRICS, {"ids": list(ids)}))["nodes"]]


async def test_messages_turns_latency_tools_and_plans(gql: GraphQLClient) -> None:
    c1 = await build_c1(gql)
    (found,) = await metrics(gql, c1)
    assert found == {
        "turns": 2,
        "messageCount": 7,
        "inputTokens": 43,
        "outputTokens": 65,
        "totalTokens": 108,
        "cost": pytest.approx(0.06),
        "messagesByRole": [
            role("USER", 3, (13, 0), 0.0),
            role("ASSISTANT", 4, (30, 65), 0.06),
            *NO_ROLES[2:],
        ],
        "answerLatencyAvgMs": 200.0,
        "answerLatencyP95Ms": 300.0,
        "toolCallCount": 3,
        "toolCalls": [
            {"toolName": "calc", "count": 1, "errorCount": 0, "errorRate": 0.0},
            {"toolName": "search", "count": 2, "errorCount": 1, "errorRate": 0.5},
        ],
        "planStepsDone": 2,
        "planStepsTotal": 4,
        "planCompletion": 0.5,
        "questionsAsked": 0,
        "questionsAnswered": 0,
        "waitingOnUserMs": 0.0,
    }


async def test_time_waiting_on_the_user_and_an_empty_conversation(
    gql: GraphQLClient, app: Starlette, sql: StatementCounter
) -> None:
    c3 = await build_c3(gql, app)
    c2 = (await factories.conversation(gql))["id"]
    sql.reset()
    waited, empty = await metrics(gql, c3, c2)
    # Both conversations in one batch: one statement per figure, not per conversation.
    assert sql.count <= 2 + 6
    assert (waited["questionsAsked"], waited["questionsAnswered"]) == (3, 2)
    assert waited["waitingOnUserMs"] == 1750.0
    # The questions are ASSISTANT messages replying to the answers before them.
    assert waited["turns"] == 2
    assert empty == {
        "turns": 0,
        "messageCount": 0,
        "inputTokens": 0,
        "outputTokens": 0,
        "totalTokens": 0,
        "cost": 0.0,
        "messagesByRole": NO_ROLES,
        "answerLatencyAvgMs": None,
        "answerLatencyP95Ms": None,
        "toolCallCount": 0,
        "toolCalls": [],
        "planStepsDone": 0,
        "planStepsTotal": 0,
        "planCompletion": None,
        "questionsAsked": 0,
        "questionsAnswered": 0,
        "waitingOnUserMs": 0.0,
    }


PAGE = """{ conversations(first: 20) { nodes { metrics {
  turns messageCount answerLatencyP95Ms toolCalls { toolName } planCompletion
  waitingOnUserMs } } } }"""


@pytest.mark.parametrize("conversations", [1, 5])
async def test_a_page_of_metrics_costs_the_same_statements(
    gql: GraphQLClient, sql: StatementCounter, conversations: int
) -> None:
    for _ in range(conversations):
        await build_c1(gql)
    sql.reset()
    found = (await gql.data(PAGE))["conversations"]["nodes"]
    assert [m["metrics"]["turns"] for m in found] == [2] * conversations
    # The page, then one statement per figure for the whole page.
    assert sql.count <= 1 + 6, sql.statements
