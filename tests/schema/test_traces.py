"""Traces and spans through /graphql: timing, nesting, usage, links and rejections."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TRACE_FIELDS = (
    "id name userInput finalOutput status startedAt endedAt durationMs totalTokens cost"
    " userId sessionId message { id }"
)
SPAN_FIELDS = (
    "id name kind status error startedAt endedAt durationMs inputs outputs attributes model"
    " provider inputTokens outputTokens totalTokens cost"
)
END_TRACE = factories.mutation_document("endTrace", "id")
START_SPAN = factories.mutation_document("startSpan", "id")
END_SPAN = factories.mutation_document("endSpan", "id")
START_TRACE = factories.mutation_document("startTrace", "id")


def at(seconds: float) -> str:
    """T0 plus some seconds, as a client would send it."""
    return (T0 + timedelta(seconds=seconds)).isoformat()


def parsed(value: str) -> datetime:
    return datetime.fromisoformat(value)


def missing(type_name: str) -> str:
    return to_global_id(type_name, uuid.uuid4())


async def read_trace(gql: GraphQLClient, trace_id: str, fields: str) -> Any:
    found = await gql.data(f"query($t: ID!) {{ trace(id: $t) {{ {fields} }} }}", {"t": trace_id})
    return found["trace"]


async def read_span(gql: GraphQLClient, span_id: str, fields: str) -> Any:
    found = await gql.data(f"query($s: ID!) {{ span(id: $s) {{ {fields} }} }}", {"s": span_id})
    return found["span"]


async def span_count(gql: GraphQLClient, trace_id: str) -> int:
    count: int = (await read_trace(gql, trace_id, "spans { totalCount }"))["spans"]["totalCount"]
    return count


async def trace_count(gql: GraphQLClient) -> int:
    count: int = (await gql.data("{ traces { totalCount } }"))["traces"]["totalCount"]
    return count


async def new_trace(gql: GraphQLClient, **input: Any) -> tuple[str, str]:
    """A conversation and a running trace in it: (conversation id, trace id)."""
    conv = await factories.conversation(gql)
    trace = await factories.trace(gql, conv["id"], startedAt=at(0), **input)
    return conv["id"], trace["id"]


# --- Traces ---------------------------------------------------------------------------


async def test_start_trace_is_running_until_ended(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    trace = await factories.trace(
        gql,
        conv["id"],
        TRACE_FIELDS,
        name="answer",
        userInput="what time is it?",
        userId="user-1",
        sessionId="session-1",
        startedAt=at(0),
    )
    assert trace["status"] == "RUNNING"
    assert parsed(trace["startedAt"]) == T0
    assert (trace["endedAt"], trace["durationMs"], trace["finalOutput"], trace["message"]) == (
        None,
        None,
        None,
        None,
    )
    assert (trace["name"], trace["userInput"], trace["userId"], trace["sessionId"]) == (
        "answer",
        "what time is it?",
        "user-1",
        "session-1",
    )
    assert (trace["totalTokens"], trace["cost"]) == (0, 0.0)

    ended = await factories.mutate(
        gql,
        "endTrace",
        {"traceId": trace["id"], "status": "ERROR", "finalOutput": "noon", "endedAt": at(2.5)},
        TRACE_FIELDS,
    )
    assert ended["status"] == "ERROR"
    assert ended["finalOutput"] == "noon"
    assert parsed(ended["endedAt"]) == T0 + timedelta(seconds=2.5)
    assert ended["durationMs"] == pytest.approx(2500.0)
    assert await read_trace(gql, trace["id"], TRACE_FIELDS) == ended


async def test_end_trace_defaults_to_ok_and_now(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    ended = await factories.mutate(gql, "endTrace", {"traceId": trace_id}, TRACE_FIELDS)
    assert ended["status"] == "OK"
    assert parsed(ended["endedAt"]) > T0
    expected = (parsed(ended["endedAt"]) - T0).total_seconds() * 1000
    assert ended["durationMs"] == pytest.approx(expected)


async def test_trace_links_its_message_at_start_or_at_end(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    question = await factories.message(gql, conv["id"])
    answer = await factories.message(gql, conv["id"], senderId="agent-1", content="hi")
    at_start = await factories.trace(gql, conv["id"], "id message { id }", messageId=question["id"])
    assert at_start["message"] == {"id": question["id"]}

    at_end = await factories.trace(gql, conv["id"], "id message { id }")
    assert at_end["message"] is None
    ended = await factories.mutate(
        gql, "endTrace", {"traceId": at_end["id"], "messageId": answer["id"]}, "message { id }"
    )
    assert ended["message"] == {"id": answer["id"]}

    traces = await gql.data(
        """query($m: ID!, $n: ID!) {
             a: message(id: $m) { trace { id } } b: message(id: $n) { trace { id } } }""",
        {"m": question["id"], "n": answer["id"]},
    )
    assert traces == {"a": {"trace": {"id": at_start["id"]}}, "b": {"trace": {"id": at_end["id"]}}}


async def test_trace_conversation_and_conversation_traces(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    other = await factories.conversation(gql)
    later = await factories.trace(gql, conv["id"], "id conversation { id }", startedAt=at(10))
    earlier = await factories.trace(gql, conv["id"], startedAt=at(5))
    await factories.trace(gql, other["id"], startedAt=at(7))
    assert later["conversation"] == {"id": conv["id"]}

    query = """query($c: ID!, $after: String) { conversation(id: $c) {
                 traces(first: 1, after: $after) { totalCount nodes { id }
                   pageInfo { hasNextPage endCursor } } } }"""
    page = (await gql.data(query, {"c": conv["id"]}))["conversation"]["traces"]
    assert page["totalCount"] == 2
    assert page["nodes"] == [{"id": earlier["id"]}]
    assert page["pageInfo"]["hasNextPage"] is True
    after = {"c": conv["id"], "after": page["pageInfo"]["endCursor"]}
    rest = (await gql.data(query, after))["conversation"]["traces"]
    assert rest["nodes"] == [{"id": later["id"]}]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_root_traces_filters_and_trace_by_id(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    other = await factories.conversation(gql)
    a = await factories.trace(gql, conv["id"], userId="ann", sessionId="s1", startedAt=at(1))
    b = await factories.trace(gql, conv["id"], userId="bob", sessionId="s1", startedAt=at(2))
    c = await factories.trace(gql, other["id"], userId="ann", sessionId="s2", startedAt=at(3))
    await factories.mutate(gql, "endTrace", {"traceId": b["id"], "endedAt": at(4)})
    await factories.mutate(
        gql, "endTrace", {"traceId": c["id"], "status": "ERROR", "endedAt": at(5)}
    )

    query = "query($f: TraceFilter) { traces(filter: $f) { totalCount nodes { id } } }"

    async def ids(filter: dict[str, Any] | None) -> list[str]:
        found = (await gql.data(query, {"f": filter}))["traces"]
        assert found["totalCount"] == len(found["nodes"])
        return [node["id"] for node in found["nodes"]]

    # Most recent first.
    assert await ids(None) == [c["id"], b["id"], a["id"]]
    assert await ids({"conversationId": conv["id"]}) == [b["id"], a["id"]]
    assert await ids({"statuses": ["RUNNING"]}) == [a["id"]]
    assert await ids({"statuses": ["OK", "ERROR"]}) == [c["id"], b["id"]]
    assert await ids({"userId": "ann"}) == [c["id"], a["id"]]
    assert await ids({"sessionId": "s1"}) == [b["id"], a["id"]]
    assert await ids({"userId": "ann", "sessionId": "s1"}) == [a["id"]]
    assert await ids({"conversationId": other["id"], "statuses": ["OK"]}) == []
    assert await ids({"startedAfter": at(2), "startedBefore": at(3)}) == [b["id"]]

    assert await read_trace(gql, b["id"], "id status userId") == {
        "id": b["id"],
        "status": "OK",
        "userId": "bob",
    }
    assert await read_trace(gql, missing("Trace"), "id") is None


# --- Spans ----------------------------------------------------------------------------


async def test_spans_nest_three_levels(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    # Written out of start order: every list must follow startedAt, not insertion.
    second_root = await factories.span(gql, trace_id, name="second-root", startedAt=at(5))
    root = await factories.span(gql, trace_id, name="root", kind="AGENT", startedAt=at(1))
    child_b = await factories.span(
        gql, trace_id, name="child-b", parentSpanId=root["id"], startedAt=at(3)
    )
    child_a = await factories.span(
        gql, trace_id, name="child-a", parentSpanId=root["id"], startedAt=at(2)
    )
    grandchild = await factories.span(
        gql,
        trace_id,
        "id parent { id parent { id parent { id } } } trace { id }",
        name="grandchild",
        kind="LLM",
        parentSpanId=child_a["id"],
        startedAt=at(2.5),
    )
    assert grandchild["parent"] == {
        "id": child_a["id"],
        "parent": {"id": root["id"], "parent": None},
    }
    assert grandchild["trace"] == {"id": trace_id}

    tree = await read_trace(
        gql,
        trace_id,
        "rootSpans { name kind children { name children { name children { name } } } }",
    )
    assert tree["rootSpans"] == [
        {
            "name": "root",
            "kind": "AGENT",
            "children": [
                {"name": "child-a", "children": [{"name": "grandchild", "children": []}]},
                {"name": "child-b", "children": []},
            ],
        },
        {"name": "second-root", "kind": "OTHER", "children": []},
    ]

    query = """query($t: ID!, $after: String) { trace(id: $t) { spans(first: 2, after: $after) {
                 totalCount nodes { id } pageInfo { hasNextPage endCursor } } } }"""
    order = [root["id"], child_a["id"], grandchild["id"], child_b["id"], second_root["id"]]
    seen: list[str] = []
    after: str | None = None
    for _ in range(3):
        page = (await gql.data(query, {"t": trace_id, "after": after}))["trace"]["spans"]
        assert page["totalCount"] == 5
        seen += [node["id"] for node in page["nodes"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == order


async def test_end_span_records_outputs_usage_and_merges_attributes(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    span = await factories.span(
        gql,
        trace_id,
        SPAN_FIELDS,
        name="call-model",
        kind="LLM",
        startedAt=at(1),
        inputs={"prompt": "hi"},
        attributes={"keep": 1, "replace": "old"},
        model="small",
        provider="acme",
    )
    assert (span["status"], span["endedAt"], span["durationMs"], span["outputs"]) == (
        "UNSET",
        None,
        None,
        {},
    )
    assert (span["inputTokens"], span["outputTokens"], span["totalTokens"], span["cost"]) == (
        0,
        0,
        0,
        0.0,
    )

    ended = await factories.end_span(
        gql,
        span["id"],
        SPAN_FIELDS,
        status="ERROR",
        error="rate limited",
        endedAt=at(2.25),
        outputs={"text": "partial"},
        attributes={"replace": "new", "added": True},
        inputTokens=100,
        outputTokens=20,
        cost=0.5,
    )
    assert ended["status"] == "ERROR"
    assert ended["error"] == "rate limited"
    assert parsed(ended["endedAt"]) == T0 + timedelta(seconds=2.25)
    assert ended["durationMs"] == pytest.approx(1250.0)
    assert ended["outputs"] == {"text": "partial"}
    assert ended["inputs"] == {"prompt": "hi"}
    assert ended["attributes"] == {"keep": 1, "replace": "new", "added": True}
    assert (ended["model"], ended["provider"]) == ("small", "acme")
    assert (ended["inputTokens"], ended["outputTokens"], ended["totalTokens"]) == (100, 20, 120)
    assert ended["cost"] == pytest.approx(0.5)
    assert await read_span(gql, span["id"], SPAN_FIELDS) == ended


async def test_trace_usage_is_the_sum_of_its_ended_spans(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    _, other_trace_id = await new_trace(gql)
    first = await factories.span(gql, trace_id, startedAt=at(1))
    second = await factories.span(gql, trace_id, startedAt=at(2), parentSpanId=first["id"])
    await factories.span(gql, trace_id, startedAt=at(3))  # never ended: adds nothing
    elsewhere = await factories.span(gql, other_trace_id, startedAt=at(1))

    await factories.end_span(gql, first["id"], inputTokens=10, outputTokens=5, cost=0.25)
    # An explicit total wins over input + output.
    await factories.end_span(
        gql, second["id"], inputTokens=1, outputTokens=1, totalTokens=7, cost=0.5
    )
    await factories.end_span(gql, elsewhere["id"], inputTokens=1000, cost=8.0)

    assert await read_trace(gql, trace_id, "totalTokens cost") == {"totalTokens": 22, "cost": 0.75}
    assert await read_trace(gql, other_trace_id, "totalTokens cost") == {
        "totalTokens": 1000,
        "cost": 8.0,
    }
    assert (await read_span(gql, second["id"], "totalTokens"))["totalTokens"] == 7


async def test_span_executes_a_plan_step(gql: GraphQLClient) -> None:
    conv_id, trace_id = await new_trace(gql)
    plan = await factories.plan(gql, conv_id, [[], [0]], "steps { id }")
    step_id = plan["steps"][1]["id"]
    span = await factories.span(gql, trace_id, "planStep { id description }", planStepId=step_id)
    assert span["planStep"] == {"id": step_id, "description": "step 1"}
    plain = await factories.span(gql, trace_id, "id planStep { id }")
    assert plain["planStep"] is None
    spans = await gql.data(
        "query($s: ID!) { node(id: $s) { ... on PlanStep { spans { id } } } }", {"s": step_id}
    )
    assert len(spans["node"]["spans"]) == 1


async def test_tool_call_and_span_link_both_ways(gql: GraphQLClient) -> None:
    conv_id, trace_id = await new_trace(gql)
    tool_span = await factories.span(gql, trace_id, name="search", kind="TOOL")
    idle_span = await factories.span(gql, trace_id, name="idle")
    sent = await factories.message(
        gql,
        conv_id,
        "id toolCalls { id callId span { id name } }",
        senderId="agent-1",
        role="ASSISTANT",
        senderType="AGENT",
        toolCalls=[
            {"callId": "call-1", "toolName": "search", "spanId": tool_span["id"]},
            {"callId": "call-2", "toolName": "clock"},
        ],
    )
    linked, unlinked = sent["toolCalls"]
    assert linked["span"] == {"id": tool_span["id"], "name": "search"}
    assert unlinked["span"] is None

    call = await read_span(gql, tool_span["id"], "toolCall { id callId message { id } }")
    assert call["toolCall"] == {
        "id": linked["id"],
        "callId": "call-1",
        "message": {"id": sent["id"]},
    }
    assert await read_span(gql, idle_span["id"], "toolCall { id }") == {"toolCall": None}


async def test_message_trace_and_spans(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    answer = await factories.message(gql, conv["id"], senderId="agent-1")
    lonely = await factories.message(gql, conv["id"])
    trace = await factories.trace(gql, conv["id"], messageId=answer["id"], startedAt=at(0))
    late = await factories.span(gql, trace["id"], name="late", startedAt=at(3))
    early = await factories.span(gql, trace["id"], name="early", startedAt=at(1))
    unrelated = await factories.trace(gql, conv["id"], startedAt=at(0))
    await factories.span(gql, unrelated["id"], name="unrelated", startedAt=at(2))

    query = "query($m: ID!) { message(id: $m) { trace { id } spans { id name } } }"
    found = (await gql.data(query, {"m": answer["id"]}))["message"]
    assert found["trace"] == {"id": trace["id"]}
    assert found["spans"] == [
        {"id": early["id"], "name": "early"},
        {"id": late["id"], "name": "late"},
    ]
    assert (await gql.data(query, {"m": lonely["id"]}))["message"] == {"trace": None, "spans": []}


async def test_client_span_id_makes_start_span_retry_safe(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    _, other_trace_id = await new_trace(gql)
    client_id = str(uuid.uuid4())
    first = await factories.span(gql, trace_id, "id name", id=client_id, name="once")
    again = await factories.span(gql, trace_id, "id name", id=client_id, name="once")
    assert first == again
    assert first["id"] == to_global_id("Span", client_id)
    assert await span_count(gql, trace_id) == 1
    # The same id under another trace is somebody else's span.
    taken = {"traceId": other_trace_id, "name": "once", "id": client_id}
    assert await gql.error_code(START_SPAN, {"input": taken}) == "CONFLICT"
    assert await span_count(gql, other_trace_id) == 0


# --- Rejections -----------------------------------------------------------------------


async def test_parent_span_from_another_trace_is_rejected(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    _, other_trace_id = await new_trace(gql)
    foreign = await factories.span(gql, other_trace_id)
    input = {"traceId": trace_id, "name": "x", "parentSpanId": foreign["id"]}
    assert await gql.error_code(START_SPAN, {"input": input}) == "BAD_USER_INPUT"
    assert await span_count(gql, trace_id) == 0
    assert await span_count(gql, other_trace_id) == 1


async def test_unknown_parent_or_trace_is_not_found(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    unknown_parent = {"traceId": trace_id, "name": "x", "parentSpanId": missing("Span")}
    assert await gql.error_code(START_SPAN, {"input": unknown_parent}) == "NOT_FOUND"
    unknown_trace = {"traceId": missing("Trace"), "name": "x"}
    assert await gql.error_code(START_SPAN, {"input": unknown_trace}) == "NOT_FOUND"
    assert await gql.error_code(END_TRACE, {"input": {"traceId": missing("Trace")}}) == "NOT_FOUND"
    assert await gql.error_code(END_SPAN, {"input": {"spanId": missing("Span")}}) == "NOT_FOUND"
    unknown_conversation = {"conversationId": missing("Conversation")}
    assert await gql.error_code(START_TRACE, {"input": unknown_conversation}) == "NOT_FOUND"
    assert await span_count(gql, trace_id) == 0
    assert await trace_count(gql) == 1


async def test_ending_a_span_twice_is_a_conflict(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    span = await factories.span(gql, trace_id, startedAt=at(1))
    first = await factories.end_span(
        gql, span["id"], SPAN_FIELDS, endedAt=at(2), inputTokens=3, cost=0.25, outputs={"n": 1}
    )
    second = {
        "spanId": span["id"],
        "status": "ERROR",
        "endedAt": at(9),
        "inputTokens": 50,
        "cost": 1.0,
    }
    assert await gql.error_code(END_SPAN, {"input": second}) == "CONFLICT"
    assert await read_span(gql, span["id"], SPAN_FIELDS) == first
    assert await read_trace(gql, trace_id, "totalTokens cost") == {"totalTokens": 3, "cost": 0.25}


async def test_ending_a_trace_twice_is_a_conflict(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    first = await factories.mutate(
        gql,
        "endTrace",
        {"traceId": trace_id, "finalOutput": "done", "endedAt": at(1)},
        TRACE_FIELDS,
    )
    again = {"traceId": trace_id, "status": "ERROR", "finalOutput": "other", "endedAt": at(5)}
    assert await gql.error_code(END_TRACE, {"input": again}) == "CONFLICT"
    assert await read_trace(gql, trace_id, TRACE_FIELDS) == first


async def test_ending_before_the_start_is_rejected(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    span = await factories.span(gql, trace_id, startedAt=at(10))
    early_span = {"spanId": span["id"], "endedAt": at(9), "inputTokens": 4}
    assert await gql.error_code(END_SPAN, {"input": early_span}) == "BAD_USER_INPUT"
    assert await gql.error_code(END_TRACE, {"input": {"traceId": trace_id, "endedAt": at(-1)}}) == (
        "BAD_USER_INPUT"
    )
    assert await read_span(gql, span["id"], "status endedAt totalTokens") == {
        "status": "UNSET",
        "endedAt": None,
        "totalTokens": 0,
    }
    assert await read_trace(gql, trace_id, "status endedAt totalTokens") == {
        "status": "RUNNING",
        "endedAt": None,
        "totalTokens": 0,
    }
    # Ending exactly at the start is fine: a zero duration.
    zero = await factories.end_span(gql, span["id"], "durationMs", endedAt=at(10))
    assert zero["durationMs"] == 0


async def test_end_trace_cannot_leave_it_running(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    input = {"traceId": trace_id, "status": "RUNNING", "finalOutput": "x"}
    assert await gql.error_code(END_TRACE, {"input": input}) == "BAD_USER_INPUT"
    assert await read_trace(gql, trace_id, "status endedAt finalOutput") == {
        "status": "RUNNING",
        "endedAt": None,
        "finalOutput": None,
    }


@pytest.mark.parametrize(
    "usage",
    [{"inputTokens": -1}, {"outputTokens": -1}, {"totalTokens": -1}, {"cost": -0.01}],
)
async def test_negative_usage_is_rejected(gql: GraphQLClient, usage: dict[str, Any]) -> None:
    _, trace_id = await new_trace(gql)
    span = await factories.span(gql, trace_id)
    input = {"spanId": span["id"], "outputs": {"x": 1}, **usage}
    assert await gql.error_code(END_SPAN, {"input": input}) == "BAD_USER_INPUT"
    assert await read_span(gql, span["id"], "endedAt outputs totalTokens cost") == {
        "endedAt": None,
        "outputs": {},
        "totalTokens": 0,
        "cost": 0.0,
    }
    assert await read_trace(gql, trace_id, "totalTokens cost") == {"totalTokens": 0, "cost": 0.0}


async def test_plan_step_from_another_conversation_is_rejected(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    other = await factories.conversation(gql)
    plan = await factories.plan(gql, other["id"], [[]], "steps { id }")
    input = {"traceId": trace_id, "name": "x", "planStepId": plan["steps"][0]["id"]}
    assert await gql.error_code(START_SPAN, {"input": input}) == "BAD_USER_INPUT"
    assert await span_count(gql, trace_id) == 0
    unknown_step = {"traceId": trace_id, "name": "x", "planStepId": missing("PlanStep")}
    assert await gql.error_code(START_SPAN, {"input": unknown_step}) == "NOT_FOUND"
    assert await span_count(gql, trace_id) == 0


async def test_trace_message_from_another_conversation_is_rejected(gql: GraphQLClient) -> None:
    conv_id, trace_id = await new_trace(gql)
    other = await factories.conversation(gql)
    foreign = await factories.message(gql, other["id"])
    start = {"conversationId": conv_id, "messageId": foreign["id"]}
    assert await gql.error_code(START_TRACE, {"input": start}) == "BAD_USER_INPUT"
    assert await trace_count(gql) == 1
    end = {"traceId": trace_id, "messageId": foreign["id"], "finalOutput": "x"}
    assert await gql.error_code(END_TRACE, {"input": end}) == "BAD_USER_INPUT"
    assert await read_trace(gql, trace_id, "status finalOutput message { id }") == {
        "status": "RUNNING",
        "finalOutput": None,
        "message": None,
    }


async def test_unknown_component_versions_are_not_found(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    known = await factories.component_version(gql, "prompt", {"text": "hi"})
    input = {
        "traceId": trace_id,
        "name": "x",
        "componentVersionIds": [known["id"], missing("ComponentVersion")],
    }
    assert await gql.error_code(START_SPAN, {"input": input}) == "NOT_FOUND"
    assert await span_count(gql, trace_id) == 0
    spans = await gql.data(
        "query($v: ID!) { node(id: $v) { ... on ComponentVersion { spans { totalCount } } } }",
        {"v": known["id"]},
    )
    assert spans["node"]["spans"]["totalCount"] == 0


async def test_an_id_of_the_wrong_type_is_bad_input(gql: GraphQLClient) -> None:
    _, trace_id = await new_trace(gql)
    span = await factories.span(gql, trace_id)
    assert await gql.error_code(START_SPAN, {"input": {"traceId": span["id"], "name": "x"}}) == (
        "BAD_USER_INPUT"
    )
    assert await gql.error_code(END_TRACE, {"input": {"traceId": span["id"]}}) == "BAD_USER_INPUT"
    assert await gql.error_code(END_SPAN, {"input": {"spanId": trace_id}}) == "BAD_USER_INPUT"
    assert (
        await gql.error_code(START_TRACE, {"input": {"conversationId": trace_id}})
        == "BAD_USER_INPUT"
    )
    assert await gql.error_code("query($t: ID!) { trace(id: $t) { id } }", {"t": span["id"]}) == (
        "BAD_USER_INPUT"
    )
    assert await span_count(gql, trace_id) == 1
    assert await trace_count(gql) == 1
    assert (await read_trace(gql, trace_id, "status"))["status"] == "RUNNING"
    assert (await read_span(gql, span["id"], "endedAt"))["endedAt"] is None


async def test_closing_stops_new_spans_but_running_work_may_end(gql: GraphQLClient) -> None:
    conversation_id, trace_id = await new_trace(gql)
    running = await factories.span(gql, trace_id)
    await gql.data("mutation($c: ID!) { closeConversation(id: $c) { id } }", {"c": conversation_id})
    start = {"traceId": trace_id, "name": "late"}
    assert await gql.error_code(START_SPAN, {"input": start}) == "CONFLICT"
    assert await gql.error_code(START_TRACE, {"input": {"conversationId": conversation_id}}) == (
        "CONFLICT"
    )
    # What was already running is recorded, not lost.
    await factories.end_span(gql, running["id"], inputTokens=3)
    await gql.data(END_TRACE, {"input": {"traceId": trace_id}})
    trace = await read_trace(gql, trace_id, "status totalTokens")
    assert trace == {"status": "OK", "totalTokens": 3}
