"""Runs that always end (issue 19): what completeRun, failRun and the sweeper's timeout
close, what an AWAITING_USER session refuses, and the reads of how runs went."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select
from starlette.applications import Starlette

import models
from config import Settings
from models.base import utcnow
from models.enums import AgentSessionStatus, EventKind
from resolvers.context import Context
from resolvers.retention import sweep
from resolvers.writes.stale import silent_sessions
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.schema.test_agent_runs import rejected, run, running, state, streaming

RUN = """query($c: ID!) { conversation(id: $c) {
  agentSessions { status error }
  messages(allBranches: true) { nodes { status toolCalls { status error } } }
  traces { nodes { status endedAt spans { nodes {
    name status error endedAt errorDetails { type message retryable } } } } } } }"""


async def ended(gql: GraphQLClient, conv: str) -> Any:
    return (await gql.data(RUN, {"c": conv}))["conversation"]


async def open_run(gql: GraphQLClient) -> tuple[str, str]:
    """An ACTIVE session; a STREAMING message of its agent that never got a chunk; a
    trace with an open span; and a message being produced with a running tool call."""
    conv, msg, _ = await running(gql)
    silent = await streaming(gql, conv)
    trace = (await factories.trace(gql, conv))["id"]
    await factories.span(gql, trace, name="llm", kind="LLM")
    await run(gql, "reportToolStart", messageId=msg, callId="c1", toolName="search")
    return conv, silent


def spans(found: Any) -> list[tuple[str, str, str | None]]:
    return sorted(
        (span["name"], span["status"], span["error"])
        for trace in found["traces"]["nodes"]
        for span in trace["spans"]["nodes"]
        if span["endedAt"] is not None
    )


def span_errors(found: Any) -> dict[str, Any]:
    """The ended spans' structured errors, by span name."""
    return {
        span["name"]: span["errorDetails"]
        for trace in found["traces"]["nodes"]
        for span in trace["spans"]["nodes"]
        if span["endedAt"] is not None
    }


async def test_fail_run_ends_everything_of_the_run_still_open(gql: GraphQLClient) -> None:
    conv, _ = await open_run(gql)
    await run(gql, "failRun", conversationId=conv, error="boom")
    found = await ended(gql, conv)
    assert found["agentSessions"] == [{"status": "FAILED", "error": "boom"}]
    assert sorted(m["status"] for m in found["messages"]["nodes"]) == ["ERROR", "ERROR"]
    calls = [c for m in found["messages"]["nodes"] for c in m["toolCalls"]]
    assert calls == [{"status": "FAILED", "error": "boom"}]
    assert [t["status"] for t in found["traces"]["nodes"]] == ["ERROR", "ERROR"]
    assert spans(found) == [("llm", "ERROR", "boom"), ("search", "ERROR", "boom")]
    failed = {"type": "RunFailed", "message": "boom", "retryable": None}
    assert span_errors(found) == {"llm": failed, "search": failed}


async def test_complete_run_ends_everything_of_the_run_still_open(gql: GraphQLClient) -> None:
    conv, _ = await open_run(gql)
    await run(gql, "completeRun", conversationId=conv)
    found = await ended(gql, conv)
    assert found["agentSessions"] == [{"status": "COMPLETED", "error": None}]
    assert sorted(m["status"] for m in found["messages"]["nodes"]) == ["COMPLETE", "COMPLETE"]
    # The call the run did not wait for failed, whatever became of the run.
    cut = "the run ended before the tool call did"
    calls = [c for m in found["messages"]["nodes"] for c in m["toolCalls"]]
    assert calls == [{"status": "FAILED", "error": cut}]
    assert [t["status"] for t in found["traces"]["nodes"]] == ["OK", "OK"]
    assert spans(found) == [("llm", "OK", None), ("search", "ERROR", cut)]
    cut_short = {"type": "RunEnded", "message": cut, "retryable": None}
    assert span_errors(found) == {"llm": None, "search": cut_short}


async def test_a_failed_tool_call_s_span_has_structured_error_details(gql: GraphQLClient) -> None:
    conv, msg, _ = await running(gql)
    start = {"messageId": msg, "toolName": "search"}
    failing = (await run(gql, "reportToolStart", callId="c1", **start))["id"]
    fine = (await run(gql, "reportToolStart", callId="c2", **{**start, "toolName": "fetch"}))["id"]
    await run(gql, "reportToolEnd", toolCallId=failing, error="HTTP 503 from search")
    await run(gql, "reportToolEnd", toolCallId=fine, result={"hits": 2})
    found = await ended(gql, conv)
    assert spans(found) == [("fetch", "OK", None), ("search", "ERROR", "HTTP 503 from search")]
    tool_error = {"type": "ToolError", "message": "HTTP 503 from search", "retryable": None}
    assert span_errors(found) == {"fetch": None, "search": tool_error}


async def test_a_run_leaves_what_is_not_its_own(gql: GraphQLClient) -> None:
    """A user's STREAMING message and a trace of another run, ended earlier, stay as they are."""
    conv = (await factories.conversation(gql))["id"]
    before = (await factories.trace(gql, conv))["id"]
    await factories.span(gql, before, name="earlier")
    await gql.data(
        "mutation($t: ID!) { endTrace(input: {traceId: $t, status: OK}) { id } }", {"t": before}
    )
    await factories.message(gql, conv, content="", status="STREAMING")
    await run(gql, "startAgentSession", conversationId=conv, profileName="agent-1")
    await run(gql, "failRun", conversationId=conv, error="boom")
    found = await ended(gql, conv)
    assert [m["status"] for m in found["messages"]["nodes"]] == ["STREAMING"]
    assert found["traces"]["nodes"][0]["status"] == "OK"
    assert spans(found) == []


async def test_a_run_leaves_another_agents_trace_open(gql: GraphQLClient) -> None:
    """A trace begun during the session but run for another agent is not the run's."""
    agents = [{"participantId": a, "participantType": "AGENT"} for a in ("agent-1", "agent-2")]
    conv = (await factories.conversation(gql, participants=agents))["id"]
    await run(gql, "startAgentSession", conversationId=conv, profileName="agent-1")
    theirs = (await factories.trace(gql, conv, agentId="agent-2"))["id"]
    await factories.span(gql, theirs, name="theirs")
    ours = (await factories.trace(gql, conv, agentId="agent-1"))["id"]
    await factories.span(gql, ours, name="ours")
    await run(gql, "failRun", conversationId=conv, error="boom")
    read = """query($c: ID!) { conversation(id: $c) { traces { nodes { agentId status
      spans { nodes { status } } } } } }"""
    found = (await gql.data(read, {"c": conv}))["conversation"]["traces"]["nodes"]
    states = {t["agentId"]: (t["status"], t["spans"]["nodes"][0]["status"]) for t in found}
    assert states == {"agent-2": ("RUNNING", "UNSET"), "agent-1": ("ERROR", "ERROR")}


async def test_a_waiting_session_takes_no_chunks_and_only_the_answer_resets_its_wait(
    gql: GraphQLClient,
) -> None:
    conv, msg, _ = await running(gql)
    call = (await run(gql, "reportToolStart", messageId=msg, callId="c", toolName="t"))["id"]
    await run(gql, "askUser", conversationId=conv, question="which one?")
    asked = (await state(gql, conv))["agentSession"]["lastInteractionAt"]
    for name in ("appendAnswerChunk", "reportThought"):
        assert await rejected(gql, conv, name, messageId=msg, text="x") == "CONFLICT"
    start = {"messageId": msg, "callId": "c2", "toolName": "t"}
    assert await rejected(gql, conv, "reportToolStart", **start) == "CONFLICT"
    # A call started before the question may end while the user thinks: it does not
    # restart the wait.
    await run(gql, "reportToolEnd", toolCallId=call)
    assert (await state(gql, conv))["agentSession"]["lastInteractionAt"] == asked
    answer = {"conversationId": conv, "answer": "the first", "senderId": "user-1"}
    await run(gql, "answerAgent", **answer)
    assert (await state(gql, conv))["agentSession"]["lastInteractionAt"] > asked
    await run(gql, "appendAnswerChunk", messageId=msg, text="ok")


async def silent_for(gql: GraphQLClient, seconds: float) -> tuple[str, str]:
    conv, msg, _ = await running(gql)
    await run(gql, "appendAnswerChunk", messageId=msg, text="half an ans")
    await asyncio.sleep(seconds)
    return conv, msg


async def test_two_sweeps_at_once_fail_a_silent_run_once(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    conv, _ = await silent_for(gql, 0.3)
    policy = replace(settings, agent_stream_timeout_seconds=0.2)
    reports = await asyncio.gather(
        *(sweep(Context.create(app.state.database, policy, app.state.bus)) for _ in range(2))
    )
    assert sorted(report.failed_sessions for report in reports) == [0, 1]
    found = await ended(gql, conv)
    reason = "no activity from the agent within 0.2 seconds"
    assert found["agentSessions"] == [{"status": "FAILED", "error": reason}]
    assert [m["status"] for m in found["messages"]["nodes"]] == ["ERROR"]
    async with app.state.engine.connect() as connection:
        errors = await connection.scalar(
            select(func.count()).where(models.Event.__table__.c.kind == EventKind.ERROR)  # type: ignore[attr-defined]
        )
    assert errors == 1


async def test_a_silent_run_s_spans_end_as_a_retryable_timeout(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    conv, _ = await open_run(gql)
    await asyncio.sleep(0.3)
    policy = replace(settings, agent_stream_timeout_seconds=0.2)
    report = await sweep(Context.create(app.state.database, policy, app.state.bus))
    assert report.failed_sessions == 1
    found = await ended(gql, conv)
    reason = "no activity from the agent within 0.2 seconds"
    assert spans(found) == [("llm", "ERROR", reason), ("search", "ERROR", reason)]
    timeout = {"type": "AgentStreamTimeout", "message": reason, "retryable": True}
    assert span_errors(found) == {"llm": timeout, "search": timeout}


async def test_the_sweepers_query_reads_the_open_sessions_index(app: Starlette) -> None:
    statement = silent_sessions(AgentSessionStatus.ACTIVE, utcnow())
    async with app.state.engine.connect() as connection:
        dialect = connection.dialect
        sql = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        if dialect.name == "sqlite":
            plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
        else:
            # A test database's few rows are cheaper to scan: ask what the index would do.
            # SET LOCAL ends with this transaction, which closing the connection rolls back.
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = await connection.exec_driver_sql(f"EXPLAIN {sql}")
        steps = " ".join(str(row) for row in plan.all())
    assert "ix_agent_sessions_open_last_interaction" in steps, steps


def test_both_waits_default_to_300_seconds() -> None:
    settings = Settings.from_env({})
    assert (settings.agent_stream_timeout_seconds, settings.agent_wait_timeout_seconds) == (
        300,
        300,
    )


async def test_a_session_heard_from_within_the_timeout_stays_active(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    conv, _ = await silent_for(gql, 0)
    policy = replace(settings, agent_stream_timeout_seconds=30)
    assert (
        await sweep(Context.create(app.state.database, policy, app.state.bus))
    ).failed_sessions == 0
    assert (await ended(gql, conv))["agentSessions"] == [{"status": "ACTIVE", "error": None}]


LIST = """query($f: AgentSessionFilter, $after: String) {
  agentSessions(filter: $f, first: 1, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { profileName status error conversation { id } } } }"""
STATS = """query($from: DateTime, $to: DateTime) {
  agentSessionStats(startedAfter: $from, startedBefore: $to) {
    agentId sessions completed failed stale questions answered
    completionRate failureRate staleRate answerRate } }"""


async def session_ending(gql: GraphQLClient, agent: str, how: str) -> str:
    conv = (await factories.conversation(gql))["id"]
    await run(gql, "startAgentSession", conversationId=conv, profileName=agent)
    await run(gql, "askUser", conversationId=conv, question="?")
    if how != "STALE":
        await run(gql, "answerAgent", conversationId=conv, answer="!", senderId="user-1")
    if how == "COMPLETED":
        await run(gql, "completeRun", conversationId=conv)
    elif how == "FAILED":
        await run(gql, "failRun", conversationId=conv, error="tool broke")
    return conv


async def test_the_sessions_that_ended_badly_and_the_rates_per_agent(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    await session_ending(gql, "agent-1", "COMPLETED")
    failed = await session_ending(gql, "agent-1", "FAILED")
    stale = await session_ending(gql, "agent-1", "STALE")
    await session_ending(gql, "agent-2", "ACTIVE")
    await asyncio.sleep(0.2)
    policy = replace(settings, agent_wait_timeout_seconds=0.1, agent_stream_timeout_seconds=0)
    await sweep(Context.create(app.state.database, policy, app.state.bus))
    bad = {"statuses": ["FAILED", "STALE"]}
    first = (await gql.data(LIST, {"f": bad}))["agentSessions"]
    assert (first["totalCount"], first["pageInfo"]["hasNextPage"]) == (2, True)
    after = {"f": bad, "after": first["pageInfo"]["endCursor"]}
    second = (await gql.data(LIST, after))["agentSessions"]
    assert second["pageInfo"]["hasNextPage"] is False
    # Newest first: the stale one started last.
    assert [
        (n["conversation"]["id"], n["status"], n["error"]) for n in first["nodes"] + second["nodes"]
    ] == [
        (stale, "STALE", "no answer from the user within 0.1 seconds"),
        (failed, "FAILED", "tool broke"),
    ]
    everything = (await gql.data(LIST, {}))["agentSessions"]["totalCount"]
    assert everything == 4
    stats = (await gql.data(STATS, {}))["agentSessionStats"]
    assert stats == [
        {
            "agentId": "agent-1",
            "sessions": 3,
            "completed": 1,
            "failed": 1,
            "stale": 1,
            "questions": 3,
            "answered": 2,
            "completionRate": 1 / 3,
            "failureRate": 1 / 3,
            "staleRate": 1 / 3,
            "answerRate": 2 / 3,
        },
        {
            "agentId": "agent-2",
            "sessions": 1,
            "completed": 0,
            "failed": 0,
            "stale": 0,
            "questions": 1,
            "answered": 1,
            "completionRate": 0.0,
            "failureRate": 0.0,
            "staleRate": 0.0,
            "answerRate": 1.0,
        },
    ]
    # A range that ends before anything started holds nothing.
    assert (await gql.data(STATS, {"to": "2000-01-01T00:00:00Z"}))["agentSessionStats"] == []
    error = await gql.error_code(
        STATS, {"from": "2030-01-01T00:00:00Z", "to": "2000-01-01T00:00:00Z"}
    )
    assert error == "BAD_USER_INPUT"


async def test_another_sender_s_stream_is_not_the_run_s(gql: GraphQLClient) -> None:
    """A user typing into their own STREAMING message neither keeps a silent agent's
    session alive nor makes that message the one the run ends; nor is it refused while
    the agent waits for an answer."""
    conv, msg, _ = await running(gql)
    mine = await factories.message(gql, conv, content="", status="STREAMING", senderId="user-1")
    heard = (await state(gql, conv))["agentSession"]["lastInteractionAt"]
    await run(gql, "appendAnswerChunk", messageId=mine["id"], text="typing")
    assert (await state(gql, conv))["agentSession"]["lastInteractionAt"] == heard
    await run(gql, "askUser", conversationId=conv, question="which one?")
    await run(gql, "appendAnswerChunk", messageId=mine["id"], text=" more")
    await run(gql, "answerAgent", conversationId=conv, answer="the first", senderId="user-1")
    done = await run(gql, "failRun", "message { id }", conversationId=conv, error="boom")
    assert done["message"] == {"id": msg}
    status = "query($m: ID!) { node(id: $m) { ... on Message { status } } }"
    found = await gql.data(status, {"m": mine["id"]})
    assert found["node"] == {"status": "STREAMING"}


TEXTS = """query($c: ID!) { conversation(id: $c) { traces { nodes {
  name status userInput finalOutput } } } }"""


async def texts(gql: GraphQLClient, conv: str) -> list[tuple[str, str, str | None, str | None]]:
    found = (await gql.data(TEXTS, {"c": conv}))["conversation"]["traces"]["nodes"]
    return sorted((t["name"], t["status"], t["userInput"], t["finalOutput"]) for t in found)


async def prompted_run(gql: GraphQLClient, **prompt: Any) -> tuple[str, str]:
    """A user's prompt, then the agent's STREAMING message and its session; its first tool
    call gives the message its trace."""
    conv = (await factories.conversation(gql))["id"]
    await factories.message(gql, conv, **prompt)
    msg = await streaming(gql, conv)
    await run(gql, "startAgentSession", conversationId=conv, profileName="agent-1", messageId=msg)
    await run(gql, "reportToolStart", messageId=msg, callId="c1", toolName="search")
    return conv, msg


async def test_a_completed_run_s_traces_keep_its_prompt_and_answer(gql: GraphQLClient) -> None:
    conv, msg = await prompted_run(gql, content="What is 2+2?")
    assert await texts(gql, conv) == [("agent run", "RUNNING", "What is 2+2?", None)]
    # The user's answer to the agent's question continues the turn: it is not the prompt.
    await run(gql, "askUser", conversationId=conv, question="In base 10?")
    await run(gql, "answerAgent", conversationId=conv, answer="yes", senderId="user-1")
    await run(gql, "appendAnswerChunk", messageId=msg, text="4")
    # Traces the run started itself: what one says of its texts is kept, not replaced.
    await factories.trace(gql, conv, name="silent")
    await factories.trace(gql, conv, name="told", userInput="2+2 in base 10")
    await run(gql, "completeRun", conversationId=conv)
    assert await texts(gql, conv) == [
        ("agent run", "OK", "What is 2+2?", "4"),
        ("silent", "OK", "What is 2+2?", "4"),
        ("told", "OK", "2+2 in base 10", "4"),
    ]


async def test_a_failed_run_s_trace_keeps_its_prompt_and_no_output(gql: GraphQLClient) -> None:
    """As endTrace with ERROR: the error is the session's and the spans', not an output."""
    parts = [{"type": "file", "url": "s3://a"}, {"type": "text", "text": "Summarise this"}]
    conv, msg = await prompted_run(gql, content="", parts=parts)
    await run(gql, "appendAnswerChunk", messageId=msg, text="The file says")
    await run(gql, "failRun", conversationId=conv, error="boom")
    assert await texts(gql, conv) == [("agent run", "ERROR", "Summarise this", None)]


async def test_a_run_no_user_prompted_has_no_user_input(gql: GraphQLClient) -> None:
    conv, msg, _ = await running(gql)
    await run(gql, "reportToolStart", messageId=msg, callId="c1", toolName="search")
    await run(gql, "appendAnswerChunk", messageId=msg, text="Good morning")
    await run(gql, "completeRun", conversationId=conv)
    assert await texts(gql, conv) == [("agent run", "OK", None, "Good morning")]
