"""The conversation page in one request, with a statement count that does not grow with rows."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient

DEEP_QUERY = """
query Deep($first: Int!) {
  conversations(first: $first) {
    totalCount
    edges { node {
      id title messageCount totalTokens
      modelsUsed { model calls totalTokens }
      participants { participantId role }
      lastMessage { id content }
      messages(first: 50) {
        totalCount
        edges { cursor node {
          id seq role content parent { id } children { id }
          toolCalls { id toolName arguments span { id name status } }
          trace { id }
          references { kind node { id } }
          turnId messageType
        } }
      }
      plans { edges { node {
        id title status
        steps { id position status dependencies { id } dependents { id } spans { id } }
      } } }
      traces { edges { node {
        id status totalTokens
        rootSpans { id kind children { id kind children { id kind } } }
        spans(first: 100) { totalCount edges { node {
          id name parent { id } toolCall { id } planStep { id }
          componentVersions { id contentHash versionNumber component { key type } }
        } } }
      } } }
    } }
  }
}
"""


async def seed_conversation(gql: GraphQLClient, index: int, messages: int) -> None:
    conv = await factories.conversation(gql, title=f"conversation {index}")
    prompt = await factories.component_version(gql, "system-prompt", {"text": f"v{index % 3}"})
    tool = await factories.component_version(gql, "search", {"name": "search"}, type="TOOL")
    plan = await factories.plan(gql, conv["id"], [[], [0], [0, 1]], fields="id steps { id }")
    trace = await factories.trace(gql, conv["id"])
    root = await factories.span(gql, trace["id"], kind="AGENT", componentVersionIds=[prompt["id"]])
    step = plan["steps"][0]["id"]
    llm = await factories.span(
        gql, trace["id"], kind="LLM", parentSpanId=root["id"], planStepId=step, model="gpt-4o"
    )
    tool_span = await factories.span(
        gql, trace["id"], kind="TOOL", parentSpanId=llm["id"], componentVersionIds=[tool["id"]]
    )
    await factories.end_span(gql, llm["id"], inputTokens=10, outputTokens=5)
    prompt = None
    for n in range(messages):
        calls: list[dict[str, Any]] = []
        references: list[dict[str, Any]] = []
        if n % 2:
            calls = [{"callId": f"c{n}", "toolName": "search", "spanId": tool_span["id"]}]
            references = [{"messageId": prompt}, {"spanId": tool_span["id"]}, {"document": "d"}]
        role = "ASSISTANT" if n % 2 else "USER"
        sent = await factories.message(
            gql, conv["id"], role=role, content=f"m{n}", toolCalls=calls, references=references
        )
        prompt = prompt if n % 2 else sent["id"]


async def count_deep_query(gql: GraphQLClient, sql: StatementCounter, first: int) -> int:
    sql.reset()
    data = await gql.data(DEEP_QUERY, {"first": first})
    assert len(data["conversations"]["edges"]) == first
    return sql.count


async def test_deep_query_returns_the_whole_graph(gql: GraphQLClient) -> None:
    await seed_conversation(gql, 0, messages=4)
    data = await gql.data(DEEP_QUERY, {"first": 1})
    conv = data["conversations"]["edges"][0]["node"]
    assert conv["messageCount"] == 4
    assert conv["modelsUsed"] == [{"model": "gpt-4o", "calls": 1, "totalTokens": 15}]
    messages = [edge["node"] for edge in conv["messages"]["edges"]]
    assert [m["content"] for m in messages] == ["m0", "m1", "m2", "m3"]
    assert messages[1]["parent"]["id"] == messages[0]["id"]
    assert messages[1]["toolCalls"][0]["span"]["name"] == "span"
    references = [(r["kind"], r["node"]) for r in messages[1]["references"]]
    span_id = messages[1]["toolCalls"][0]["span"]["id"]
    assert references == [
        ("MESSAGE", {"id": messages[0]["id"]}),
        ("SPAN", {"id": span_id}),
        ("DOCUMENT", None),
    ]
    assert [m["turnId"] for m in messages[:2]] == [messages[0]["id"]] * 2
    steps = conv["plans"]["edges"][0]["node"]["steps"]
    assert [len(s["dependencies"]) for s in steps] == [0, 1, 2]
    assert len(steps[0]["spans"]) == 1
    trace = conv["traces"]["edges"][0]["node"]
    assert trace["totalTokens"] == 15
    root = trace["rootSpans"][0]
    assert root["kind"] == "AGENT"
    assert root["children"][0]["children"][0]["kind"] == "TOOL"
    spans = [edge["node"] for edge in trace["spans"]["edges"]]
    keys = {v["component"]["key"] for s in spans for v in s["componentVersions"]}
    assert keys == {"system-prompt", "search"}
    assert any(s["toolCall"] for s in spans)


async def test_statement_count_does_not_grow_with_rows(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    for index in range(2):
        await seed_conversation(gql, index, messages=2)
    small = await count_deep_query(gql, sql, first=2)
    for index in range(2, 20):
        await seed_conversation(gql, index, messages=20)
    # Widen the two small conversations too, so every level holds 20 rows.
    for _ in range(18):
        for edge in (await gql.data("{ conversations(last: 2) { edges { node { id } } } }"))[
            "conversations"
        ]["edges"]:
            await factories.message(gql, edge["node"]["id"], content="more")
    large = await count_deep_query(gql, sql, first=20)
    # Loads of one table from two levels (a tool call's span, a span's parent) share a
    # batch when they land in the same event-loop tick, so a run may save a statement;
    # a nested field that queried per row would add hundreds here, not one or two.
    assert abs(large - small) <= 2, (small, large)
    # One statement per level and relation, not per row: far fewer than the 400 messages.
    assert large < 30, sql.statements


SPANS = "{ traces { nodes { spans(first: 100) { nodes { id kind %s } } } } }"


async def test_a_foreign_key_into_rows_already_read_costs_no_query(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    await seed_conversation(gql, 0, messages=2)
    sql.reset()
    await gql.data(SPANS % "")
    without_parents = sql.count
    sql.reset()
    data = await gql.data(SPANS % "parent { id kind }")
    # A span's parent is among the spans the page read: the by-id loader knows it.
    assert sql.count == without_parents, sql.statements
    spans = data["traces"]["nodes"][0]["spans"]["nodes"]
    kinds = {span["id"]: span["kind"] for span in spans}
    parents = [span["parent"] for span in spans if span["parent"] is not None]
    assert len(parents) == 2
    assert all(kinds[parent["id"]] == parent["kind"] for parent in parents)
