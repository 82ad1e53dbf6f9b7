"""`python main.py simulate` against a served app: runs complete through the public API,
and the load generator starts as many as asked."""

from __future__ import annotations

import httpx

from agent_sim.agent import (
    AGENT,
    ANSWER,
    CONFIDENCE,
    CONFIG,
    MEMORY,
    PLAN,
    REPLY,
    SALES_REPORT,
    STEPS,
    TOOLS,
    Pace,
)
from agent_sim.run import Options, simulate
from tests.graphql_client import GraphQLClient

RUNS = """{ conversations(first: 10) { totalCount nodes { id totalTokens
  agentSessions { status }
  messages { nodes { id role status content totalTokens toolCalls { status }
    routingDecision { route agent } run { ... on Trace { id } }
    turnId messageType confidence references { kind node { id } document title } } }
  plans { nodes { status steps { status } } }
  traces { nodes { id status totalTokens spans { totalCount nodes { id name } }
    initialMemoryState initialConversationState systemConfig } } } } }"""
USAGE = """query($c: [ID!]) { usage(filter: {conversationIds: $c}) { totalTokens } }"""


async def test_simulated_runs_complete(
    server_url: str, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    url = "http" + server_url.removeprefix("ws")
    report = await simulate(Options(url=url, conversations=3, rate=50, pace=Pace(0.01)))
    assert report.failures == []
    assert len(report.completed) == 3
    assert "3 runs completed, 0 failed" in report.summary()

    found = (await gql.data(RUNS))["conversations"]
    assert found["totalCount"] == 3
    for run in found["nodes"]:
        assert run["agentSessions"] == [{"status": "COMPLETED"}]
        messages = run["messages"]["nodes"]
        question, plan, _asked, reply, answer = messages
        assert [m["status"] for m in messages] == ["COMPLETE"] * 5
        assert plan["content"] == PLAN
        assert reply["content"] == REPLY  # the simulated user's answer
        assert answer["content"] == "".join(ANSWER)
        assert answer["toolCalls"] == [{"status": "COMPLETED"}] * len(TOOLS)
        # One turn: the question, and everything the run did to answer it.
        assert [m["turnId"] for m in messages] == [question["id"]] * 5
        assert [m["messageType"] for m in messages] == [
            "TEXT",
            "PLAN",
            "QUESTION",
            "TEXT",
            "ANSWER",
        ]
        assert [m["confidence"] for m in messages] == [None] * 4 + [CONFIDENCE]
        assert run["plans"]["nodes"] == [
            {"status": "COMPLETED", "steps": [{"status": "COMPLETED"}] * len(STEPS)}
        ]
        [trace] = run["traces"]["nodes"]
        # The question was routed to the agent, whose run is the trace.
        assert messages[0]["routingDecision"] == {"route": "agent", "agent": AGENT}
        assert messages[0]["run"] == {"id": trace["id"]}
        assert [m["routingDecision"] for m in messages[1:]] == [None] * 4
        assert (trace["status"], trace["spans"]["totalCount"]) == ("OK", 5)
        # The state the run started from, to replay or compare it.
        assert (trace["initialMemoryState"], trace["systemConfig"]) == (MEMORY, CONFIG)
        assert trace["initialConversationState"]["messages"] == 0
        [ask_span] = [s["id"] for s in trace["spans"]["nodes"] if s["name"] == "ask user"]
        assert answer["references"] == [
            {"kind": "MESSAGE", "node": {"id": reply["id"]}, "document": None, "title": None},
            {"kind": "SPAN", "node": {"id": ask_span}, "document": None, "title": None},
            {
                "kind": "DOCUMENT",
                "node": None,
                "document": SALES_REPORT,
                "title": "Q3 sales, Europe",
            },
        ]
        assert all(m["references"] == [] for m in messages[:4])
        # What the viewer's header and the trace show agree, and the answer shows its call.
        used = 120 + len(ANSWER) * 4
        assert run["totalTokens"] == trace["totalTokens"] == answer["totalTokens"] == used
        usage = (await gql.data(USAGE, {"c": [run["id"]]}))["usage"]
        assert usage == [{"totalTokens": used}]


async def test_a_failed_run_is_reported(server_url: str, http: httpx.AsyncClient) -> None:
    url = "http" + server_url.removeprefix("ws").replace("/graphql", "/nowhere")
    report = await simulate(Options(url=url, pace=Pace(0.01)))
    assert report.completed == []
    assert len(report.failures) == 1
    assert "1 failed" in report.summary()
