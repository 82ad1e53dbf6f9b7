"""Which agent a trace is a run of, and which tool a TOOL span ran, as the API writes
them (`usage` groups by AGENT and TOOL from them)."""

from __future__ import annotations

import httpx

from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_key, as_user, new_key
from tests.schema.test_agent_runs import run, running

TRACE = "id agentId"
SPAN = "id kind name toolName"
START_TRACE = factories.mutation_document("startTrace", TRACE)
TWO_AGENTS = [
    {"participantId": "agent-1", "participantType": "AGENT"},
    {"participantId": "user-2", "participantType": "USER"},
]


async def test_a_trace_names_an_agent_of_its_conversation(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql, participants=TWO_AGENTS))["id"]
    named = await factories.trace(gql, conversation, TRACE, agentId="agent-1")
    assert named["agentId"] == "agent-1"
    # The development caller is no agent: a trace that names none is of none.
    assert (await factories.trace(gql, conversation, TRACE))["agentId"] is None
    # A user who takes part, or an agent who does not, is no agent of the conversation.
    for who in ("user-2", "agent-2"):
        input = {"conversationId": conversation, "agentId": who}
        assert await gql.error_code(START_TRACE, {"input": input}) == "BAD_USER_INPUT"
    found = await gql.data(
        "query($c: ID!) { conversation(id: $c) { traces { nodes { agentId } } } }",
        {"c": conversation},
    )
    assert sorted(t["agentId"] or "" for t in found["conversation"]["traces"]["nodes"]) == [
        "",
        "agent-1",
    ]


async def test_an_agents_key_runs_its_own_traces(secured_http: httpx.AsyncClient) -> None:
    owner = as_user(secured_http, "dora")
    secret, _ = await new_key(owner, ["READ", "WRITE"], agent_id="dora-bot")
    agent = {"participantId": "dora-bot", "participantType": "AGENT"}
    conversation = await factories.conversation(
        owner, owner={"participantId": "dora"}, participants=[agent]
    )
    trace = await factories.trace(as_key(secured_http, secret), conversation["id"], TRACE)
    assert trace["agentId"] == "dora-bot"


async def test_a_tool_span_names_its_tool(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, conversation))["id"]
    tool = await factories.span(gql, trace, SPAN, kind="TOOL", name="lookup")
    model = await factories.span(gql, trace, SPAN, kind="LLM", name="chat")
    assert (tool["toolName"], model["toolName"]) == ("lookup", None)


async def test_a_tool_call_runs_in_a_span_of_its_tool_and_its_agents_trace(
    gql: GraphQLClient,
) -> None:
    _, message, _ = await running(gql)
    fields = "span { kind toolName trace { agentId } }"
    call = await run(
        gql, "reportToolStart", fields, messageId=message, callId="c1", toolName="search"
    )
    assert call["span"] == {"kind": "TOOL", "toolName": "search", "trace": {"agentId": "agent-1"}}


async def test_bulk_ingest_starts_traces_of_an_agent(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    items = [
        {
            "clientEventId": f"t-{who}",
            "trace": {"start": {"conversationId": conversation, "agentId": who}},
        }
        for who in ("agent-1", "nobody")
    ]
    found = await gql.data(
        "mutation($i: [IngestItem!]!) { ingest(batch: $i) { id error { code } } }",
        {"i": items},
    )
    [ok, refused] = found["ingest"]
    assert refused == {"id": None, "error": {"code": "BAD_USER_INPUT"}}
    trace = await gql.data(
        "query($id: ID!) { node(id: $id) { ... on Trace { agentId } } }", {"id": ok["id"]}
    )
    assert trace["node"] == {"agentId": "agent-1"}
