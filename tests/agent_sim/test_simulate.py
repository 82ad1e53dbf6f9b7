"""`python main.py simulate` against a served app: runs complete through the public API,
and the load generator starts as many as asked."""

from __future__ import annotations

import httpx

from agent_sim.agent import AGENT, ANSWER, CONFIG, MEMORY, REPLY, STEPS, TOOLS, Pace
from agent_sim.run import Options, simulate
from tests.graphql_client import GraphQLClient

RUNS = """{ conversations(first: 10) { totalCount nodes { id totalTokens
  agentSessions { status }
  messages { nodes { role status content totalTokens toolCalls { status }
    routingDecision { route agent } run { ... on Trace { id } } } }
  plans { nodes { status steps { status } } }
  traces { nodes { id status totalTokens spans { totalCount }
    initialMemoryState systemConfig } } } } }"""
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
        assert [m["status"] for m in messages] == ["COMPLETE"] * 4
        assert messages[2]["content"] == REPLY  # the simulated user's answer
        assert messages[3]["content"] == "".join(ANSWER)
        assert messages[3]["toolCalls"] == [{"status": "COMPLETED"}] * len(TOOLS)
        assert run["plans"]["nodes"] == [
            {"status": "COMPLETED", "steps": [{"status": "COMPLETED"}] * len(STEPS)}
        ]
        [trace] = run["traces"]["nodes"]
        # The question was routed to the agent, whose run is the trace.
        assert messages[0]["routingDecision"] == {"route": "agent", "agent": AGENT}
        assert messages[0]["run"] == {"id": trace["id"]}
        assert [m["routingDecision"] for m in messages[1:]] == [None] * 3
        assert {k: trace[k] for k in ("status", "spans")} == {
            "status": "OK",
            "spans": {"totalCount": 5},
        }
        # The state the run started from, to replay or compare it.
        assert (trace["initialMemoryState"], trace["systemConfig"]) == (MEMORY, CONFIG)
        # What the viewer's header and the trace show agree, and the answer shows its call.
        used = 120 + len(ANSWER) * 4
        assert run["totalTokens"] == trace["totalTokens"] == messages[3]["totalTokens"] == used
        usage = (await gql.data(USAGE, {"c": [run["id"]]}))["usage"]
        assert usage == [{"totalTokens": used}]


async def test_a_failed_run_is_reported(server_url: str, http: httpx.AsyncClient) -> None:
    url = "http" + server_url.removeprefix("ws").replace("/graphql", "/nowhere")
    report = await simulate(Options(url=url, pace=Pace(0.01)))
    assert report.completed == []
    assert len(report.failures) == 1
    assert "1 failed" in report.summary()
