"""An ingested run records the tool of each TOOL span and the agent its trace is a run of
(`usage` groups by TOOL and AGENT from them)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.graphql_client import GraphQLClient
from tests.identities import as_user, new_key
from tests.web.otlp_json import conversation, export, genai, post, span, text
from tests.web.test_otlp_participants import agent_run

TRACES = """query($c: ID!) { conversation(id: $c) { traces { nodes {
  agentId spans(first: 50) { nodes { name kind toolName } } } } } }"""


async def traces(gql: GraphQLClient, key: str) -> list[dict[str, Any]]:
    found = await conversation(gql, key)
    read = await gql.data(TRACES, {"c": found["id"]})
    nodes: list[dict[str, Any]] = read["conversation"]["traces"]["nodes"]
    return nodes


def tools(trace: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(s["name"], s["kind"], s["toolName"]) for s in trace["spans"]["nodes"]}


async def test_tool_spans_record_their_tool_and_the_trace_its_agent(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """GenAI's execute_tool names the tool in gen_ai.tool.name, OpenInference's TOOL
    span in tool.name; the span's own name may be anything."""
    run = agent_run("tools", 1, "Weather?", **{"gen_ai.agent.name": "support-agent"})
    common = {"gen_ai.conversation.id": "tools"}
    genai_tool = {**common, "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "weather"}
    openinference = {**common, "openinference.span.kind": "TOOL", "tool.name": "clock"}
    await post(
        http,
        *run,
        span(1, 3, "execute_tool weather", genai_tool, parent=1, start=200),
        span(1, 4, "run", openinference, parent=1, start=300),
    )
    [trace] = await traces(gql, "tools")
    assert trace["agentId"] == "support-agent"
    assert tools(trace) == {
        ("invoke_agent", "AGENT", None),
        ("chat", "LLM", None),
        ("execute_tool weather", "TOOL", "weather"),
        ("run", "TOOL", "clock"),
    }


async def test_a_run_is_of_the_agent_that_speaks_in_it(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """A run naming no agent is the service's, which answers in it; a run where no agent
    takes part is nobody's until a later batch of its trace shows one."""
    await post(http, *agent_run("service", 1, "Hi"))
    [trace] = await traces(gql, "service")
    assert trace["agentId"] == "support-bot"
    quiet = {"gen_ai.conversation.id": "late"}
    await post(http, span(2, 1, "root", quiet, end=900))
    [trace] = await traces(gql, "late")
    assert trace["agentId"] is None
    chat = {
        **quiet,
        "gen_ai.operation.name": "chat",
        "gen_ai.output.messages": genai(("assistant", [text("Late answer.")])),
    }
    await post(http, span(2, 2, "chat", chat, parent=1, start=100), service="late-bot")
    [trace] = await traces(gql, "late")
    assert trace["agentId"] == "late-bot"


async def test_an_agents_key_runs_its_traces(secured_http: httpx.AsyncClient) -> None:
    """Telemetry sent with an agent's key is that agent's run, whatever agent it names."""
    ada = as_user(secured_http, "ada")
    ingester, _ = await new_key(ada, ["INGEST"], agent_id="weather-bot")
    run = agent_run("keyed", 1, "Hi", **{"gen_ai.agent.name": "named"})
    response = await secured_http.post(
        "/v1/traces", json=export(*run), headers={"X-API-Key": ingester}
    )
    assert response.status_code == 200, response.text
    [trace] = await traces(ada, "keyed")
    assert trace["agentId"] == "weather-bot"
