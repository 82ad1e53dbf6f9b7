"""An agent run seen live over a real WebSocket: conversationEvents and messageStream."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.graphql_client import GraphQLClient
from tests.schema.test_agent_runs import run, running
from tests.ws_client import GraphQLWebSocket

EVENTS = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
  __typename seq kind
  ... on AnswerChunkEvent { text message { id } }
  ... on ThoughtEvent { text }
  ... on ToolEvent { toolCall { callId status } span { kind status } }
  ... on SpanEvent { span { kind status } }
  ... on AgentExchangeEvent { text message { role content } agentSession { status question } }
  ... on RunEvent { error message { status } agentSession { status } }
  ... on MessageEvent { message { role status } }
} }"""
STREAM = """subscription($m: ID!) { messageStream(messageId: $m) {
  kind ... on AnswerChunkEvent { text } ... on RunEvent { error message { status } } } }"""


LAST_EVENT = "query($c: ID!) { conversation(id: $c) { lastEventCursor } }"


async def watch(gql: GraphQLClient, ws: GraphQLWebSocket, conv: str) -> str:
    """Subscribe after the conversation's latest event: whatever is written once this
    returns arrives, however long the subscription takes to open (no sleep to guess)."""
    cursor = (await gql.data(LAST_EVENT, {"c": conv}))["conversation"]["lastEventCursor"]
    return await ws.subscribe(EVENTS, {"c": conv, "after": cursor})


async def events(ws: GraphQLWebSocket, op: str, count: int) -> list[dict[str, Any]]:
    return [e["conversationEvents"] for e in await ws.collect(op, count)]


def summary(event: dict[str, Any]) -> tuple[Any, ...]:
    """The kind and what the event type shows about it, without ids and times."""
    shown = {k: v for k, v in event.items() if k not in {"__typename", "seq", "kind"}}
    if "message" in shown and shown["message"] and "id" in shown["message"]:
        shown["message"] = "the message"
    return event["kind"], shown


async def test_chunks_and_thoughts_arrive_in_order(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv, msg, _ = await running(gql)
    op = await watch(gql, ws, conv)
    for text in ("Hel", "lo", "!"):
        await run(gql, "appendAnswerChunk", messageId=msg, text=text)
    await run(gql, "reportThought", messageId=msg, text="hmm")
    got = await events(ws, op, 4)
    assert [summary(e) for e in got] == [
        ("ANSWER_CHUNK", {"text": "Hel", "message": "the message"}),
        ("ANSWER_CHUNK", {"text": "lo", "message": "the message"}),
        ("ANSWER_CHUNK", {"text": "!", "message": "the message"}),
        ("THOUGHT", {"text": "hmm"}),
    ]
    assert {e["message"]["id"] for e in got[:3]} == {msg}
    await ws.nothing_more(op)


async def test_a_tool_call_starts_and_ends_with_its_span(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conv, msg, _ = await running(gql)
    op = await watch(gql, ws, conv)
    call = await run(gql, "reportToolStart", messageId=msg, callId="c1", toolName="search")
    started = await events(ws, op, 2)
    await run(gql, "reportToolEnd", toolCallId=call["id"], result={"hits": 3})
    ended = await events(ws, op, 2)
    span = {"kind": "TOOL", "status": "UNSET"}
    assert [summary(e) for e in started] == [
        ("SPAN_STARTED", {"span": span}),
        ("TOOL_START", {"toolCall": {"callId": "c1", "status": "RUNNING"}, "span": span}),
    ]
    done = {"kind": "TOOL", "status": "OK"}
    assert [summary(e) for e in ended] == [
        ("TOOL_END", {"toolCall": {"callId": "c1", "status": "COMPLETED"}, "span": done}),
        ("SPAN_ENDED", {"span": done}),
    ]
    seqs = [e["seq"] for e in started + ended]
    assert seqs == list(range(seqs[0], seqs[0] + 4))


async def test_a_question_and_its_answer(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conv, _, _ = await running(gql)
    op = await watch(gql, ws, conv)
    await run(gql, "askUser", conversationId=conv, question="Which year?")
    asked = await events(ws, op, 2)  # rows are read as events arrive: wait before answering
    await run(gql, "answerAgent", conversationId=conv, answer="2024", senderId="user-1")
    answered = await events(ws, op, 2)
    assert [summary(e) for e in asked + answered] == [
        ("MESSAGE_CREATED", {"message": {"role": "ASSISTANT", "status": "COMPLETE"}}),
        (
            "ASK_USER",
            {
                "text": "Which year?",
                "message": {"role": "ASSISTANT", "content": "Which year?"},
                "agentSession": {"status": "AWAITING_USER", "question": "Which year?"},
            },
        ),
        ("MESSAGE_CREATED", {"message": {"role": "USER", "status": "COMPLETE"}}),
        (
            "USER_ANSWER",
            {
                "text": "2024",
                "message": {"role": "USER", "content": "2024"},
                "agentSession": {"status": "ACTIVE", "question": None},
            },
        ),
    ]


async def test_complete_and_error_end_runs(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conv, _, _ = await running(gql)
    op = await watch(gql, ws, conv)
    await run(gql, "completeRun", conversationId=conv)
    completed = await events(ws, op, 2)
    await run(gql, "startAgentSession", conversationId=conv, profileName="agent-1")
    await run(gql, "failRun", conversationId=conv, error="model overloaded")
    started, failed = await events(ws, op, 2)
    # The started event's rows are read when it is delivered, maybe after the failure.
    assert started["kind"] == "AGENT_SESSION_STARTED"
    assert [summary(e) for e in [*completed, failed]] == [
        ("MESSAGE_UPDATED", {"message": {"role": "ASSISTANT", "status": "COMPLETE"}}),
        (
            "COMPLETE",
            {
                "error": None,
                "message": {"status": "COMPLETE"},
                "agentSession": {"status": "COMPLETED"},
            },
        ),
        (
            "ERROR",
            {"error": "model overloaded", "message": None, "agentSession": {"status": "FAILED"}},
        ),
    ]


async def test_a_rejected_write_sends_no_event(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conv, msg, _ = await running(gql)
    op = await watch(gql, ws, conv)
    await run(gql, "appendAnswerChunk", messageId=msg, text="a")
    start = {"conversationId": conv, "profileName": "agent-2"}
    code = await gql.error_code(
        "mutation($i: StartAgentSessionInput!) { startAgentSession(input: $i) { id } }",
        {"i": start},
    )
    assert code == "CONFLICT"
    await run(gql, "appendAnswerChunk", messageId=msg, text="b")
    first, second = await events(ws, op, 2)
    assert (second["text"], second["seq"]) == ("b", first["seq"] + 1)
    await ws.nothing_more(op)


async def test_message_stream_live_then_complete(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conv, msg, _ = await running(gql)
    await run(gql, "appendAnswerChunk", messageId=msg, text="Hel")
    op = await ws.subscribe(STREAM, {"m": msg})
    await asyncio.sleep(0.2)
    await run(gql, "reportThought", messageId=msg, text="not streamed")
    await run(gql, "appendAnswerChunk", messageId=msg, text="lo")
    await run(gql, "completeRun", conversationId=conv, messageId=msg)
    await assert_streamed(ws, op, ["Hel", "lo"], "COMPLETE")


async def test_message_stream_after_completion(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conv, msg, _ = await running(gql)
    for text in ("a", "b", "c"):
        await run(gql, "appendAnswerChunk", messageId=msg, text=text)
    await run(gql, "completeRun", conversationId=conv)  # the session's message
    op = await ws.subscribe(STREAM, {"m": msg})
    await assert_streamed(ws, op, ["a", "b", "c"], "COMPLETE")


async def test_message_stream_ends_with_an_error(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conv, msg, _ = await running(gql)
    op = await ws.subscribe(STREAM, {"m": msg})
    await asyncio.sleep(0.2)
    await run(gql, "appendAnswerChunk", messageId=msg, text="par")
    await run(gql, "failRun", conversationId=conv, error="boom")
    await assert_streamed(ws, op, ["par"], "ERROR", error="boom", status="ERROR")


async def assert_streamed(
    ws: GraphQLWebSocket,
    op: str,
    chunks: list[str],
    end: str,
    error: str | None = None,
    status: str = "COMPLETE",
) -> None:
    """The chunks in order, the final event, then the end of the subscription."""
    got = [e["messageStream"] for e in await ws.collect(op, len(chunks) + 1)]
    assert [e["text"] for e in got[:-1]] == chunks
    assert got[-1] == {"kind": end, "error": error, "message": {"status": status}}
    assert (await ws.message(op))["type"] == "complete"
