"""Agent runs through /graphql: sessions, streamed answers, thoughts, tools, questions, endings."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient

INPUTS = {
    "startAgentSession": "StartAgentSessionInput",
    "appendAnswerChunk": "AppendAnswerChunkInput",
    "reportThought": "ReportThoughtInput",
    "reportToolStart": "ReportToolStartInput",
    "reportToolEnd": "ReportToolEndInput",
    "askUser": "AskUserInput",
    "answerAgent": "AnswerAgentInput",
    "completeRun": "CompleteRunInput",
    "failRun": "FailRunInput",
}
SESSION = "id status question error profileName endedAt message { id }"
CALL = "id status position result error endedAt span { id kind name status error outputs inputs "
CALL += "trace { id name } }"
# Everything an agent mutation may change: a rejected one must leave it all as it was.
STATE = """query($c: ID!) { conversation(id: $c) {
  messageCount agentSession { id status question lastInteractionAt }
  agentSessions { id status question error endedAt lastInteractionAt message { id } }
  messages(allBranches: true) { nodes { id content thinking status updatedAt
    toolCalls { id status result endedAt span { status endedAt outputs } } } }
  traces { nodes { id totalTokens spans { totalCount } } } } }"""


def doc(name: str, fields: str) -> str:
    return f"mutation($input: {INPUTS[name]}!) {{ {name}(input: $input) {{ {fields} }} }}"


async def run(gql: GraphQLClient, name: str, fields: str = "id", **input: Any) -> Any:
    return (await gql.data(doc(name, fields), {"input": input}))[name]


def pick(row: dict[str, Any], *keys: str) -> tuple[Any, ...]:
    return tuple(row[k] for k in keys)


async def state(gql: GraphQLClient, conversation_id: str) -> Any:
    return (await gql.data(STATE, {"c": conversation_id}))["conversation"]


async def rejected(gql: GraphQLClient, conv: str, name: str, **input: Any) -> str:
    """The error code of a mutation, which must have changed nothing."""
    before = await state(gql, conv)
    code = await gql.error_code(doc(name, "__typename"), {"input": input})
    assert await state(gql, conv) == before
    return code


def new_id(type_name: str) -> str:
    """A well-formed id of nothing."""
    return to_global_id(type_name, uuid.uuid4())


async def streaming(gql: GraphQLClient, conv: str) -> str:
    message = await factories.message(
        gql,
        conv,
        senderId="agent-1",
        senderType="AGENT",
        role="ASSISTANT",
        content="",
        status="STREAMING",
    )
    return str(message["id"])


async def running(gql: GraphQLClient) -> tuple[str, str, Any]:
    """A conversation with a STREAMING message and an ACTIVE session producing it."""
    conv = (await factories.conversation(gql))["id"]
    msg = await streaming(gql, conv)
    agent = await run(
        gql, "startAgentSession", SESSION, conversationId=conv, profileName="agent-1", messageId=msg
    )
    return conv, msg, agent


async def test_start_opens_one_active_session(gql: GraphQLClient) -> None:
    conv, msg, agent = await running(gql)
    assert pick(agent, "status", "profileName", "message") == ("ACTIVE", "agent-1", {"id": msg})
    found = await state(gql, conv)
    assert found["agentSession"]["id"] == agent["id"]
    assert [s["id"] for s in found["agentSessions"]] == [agent["id"]]
    node = await gql.data(
        "query($id: ID!) { node(id: $id) { ... on AgentSession { status } } }", {"id": agent["id"]}
    )
    assert node["node"] == {"status": "ACTIVE"}


async def test_a_second_open_session_is_a_conflict(gql: GraphQLClient) -> None:
    conv, _, first = await running(gql)
    assert (
        await rejected(gql, conv, "startAgentSession", conversationId=conv, profileName="agent-2")
        == "CONFLICT"
    )
    error = await gql.error(
        doc("startAgentSession", "id"),
        {"input": {"conversationId": conv, "profileName": "agent-2"}},
    )
    assert "already has an open agent session" in error["message"]
    await run(gql, "completeRun", "id", conversationId=conv)
    second = await run(gql, "startAgentSession", conversationId=conv, profileName="agent-2")
    found = await state(gql, conv)
    assert found["agentSession"]["id"] == second["id"]
    assert [s["id"] for s in found["agentSessions"]] == [second["id"], first["id"]]


async def test_concurrent_starts_open_one_session(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    start = {"input": {"conversationId": conv, "profileName": "agent-1"}}
    starting = doc("startAgentSession", "id")
    bodies = await asyncio.gather(gql.execute(starting, start), gql.execute(starting, start))
    codes = sorted(b["errors"][0]["extensions"]["code"] for b in bodies if b.get("errors"))
    assert codes == ["CONFLICT"]  # one opened, the index refused the other
    assert len((await state(gql, conv))["agentSessions"]) == 1


async def test_retrying_a_start_returns_the_same_session(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    start = {"conversationId": conv, "profileName": "agent-1", "id": str(uuid.uuid4())}
    first = await run(gql, "startAgentSession", **start)
    assert await run(gql, "startAgentSession", **start) == first
    other = (await factories.conversation(gql))["id"]
    moved = {**start, "conversationId": other}  # the same id elsewhere is another session
    assert await rejected(gql, other, "startAgentSession", **moved) == "CONFLICT"


async def test_start_rejections(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    elsewhere = await streaming(gql, (await factories.conversation(gql))["id"])
    missing = new_id("Conversation")
    cases = [
        ({"conversationId": conv, "profileName": " "}, "BAD_USER_INPUT"),
        ({"conversationId": conv, "profileName": "a", "messageId": elsewhere}, "BAD_USER_INPUT"),
        ({"conversationId": "nope", "profileName": "a"}, "BAD_USER_INPUT"),
        ({"conversationId": missing, "profileName": "a"}, "NOT_FOUND"),
    ]
    for input, code in cases:
        assert await rejected(gql, conv, "startAgentSession", **input) == code
    await gql.data("mutation($c: ID!) { closeConversation(id: $c) { id } }", {"c": conv})
    assert (
        await rejected(gql, conv, "startAgentSession", conversationId=conv, profileName="a")
        == "CONFLICT"
    )


async def test_content_is_the_chunks_joined(gql: GraphQLClient) -> None:
    conv, msg, _ = await running(gql)
    before = (await state(gql, conv))["agentSession"]["lastInteractionAt"]
    chunks = ["Hel", "lo", " ", "wor", "ld\n"]
    for text in chunks:
        message = await run(gql, "appendAnswerChunk", "content status", messageId=msg, text=text)
    assert message == {"content": "".join(chunks), "status": "STREAMING"}
    assert (await state(gql, conv))["agentSession"]["lastInteractionAt"] > before


async def test_concurrent_chunks_are_all_kept(gql: GraphQLClient) -> None:
    _, msg, _ = await running(gql)
    chunks = "abcdefgh"
    await asyncio.gather(*(run(gql, "appendAnswerChunk", messageId=msg, text=t) for t in chunks))
    found = await gql.data("query($m: ID!) { message(id: $m) { content } }", {"m": msg})
    assert sorted(found["message"]["content"]) == sorted(chunks)  # in some order, none lost


async def test_thoughts_append_to_thinking(gql: GraphQLClient) -> None:
    _, msg, _ = await running(gql)
    for text in ("First, ", "check."):
        message = await run(gql, "reportThought", "thinking content", messageId=msg, text=text)
    assert message == {"thinking": "First, check.", "content": ""}


async def test_chunk_and_thought_rejections(gql: GraphQLClient) -> None:
    conv, msg, _ = await running(gql)
    done = (await factories.message(gql, conv))["id"]
    for name in ("appendAnswerChunk", "reportThought"):
        assert await rejected(gql, conv, name, messageId=msg, text="") == "BAD_USER_INPUT"
        assert await rejected(gql, conv, name, messageId=done, text="x") == "CONFLICT"
        missing = new_id("Message")
        assert await rejected(gql, conv, name, messageId=missing, text="x") == "NOT_FOUND"


async def test_tool_start_opens_a_running_call_in_a_tool_span(gql: GraphQLClient) -> None:
    _, msg, _ = await running(gql)
    start = {"messageId": msg, "toolName": "search", "arguments": {"q": "x"}}
    first = await run(gql, "reportToolStart", CALL, callId="c1", **start)
    second = await run(gql, "reportToolStart", CALL, callId="c2", **start)
    assert (first["status"], first["position"], second["position"]) == ("RUNNING", 0, 1)
    span = first["span"]
    assert pick(span, "kind", "name", "status", "inputs") == ("TOOL", "search", "UNSET", {"q": "x"})
    assert span["trace"]["name"] == "agent run"
    assert second["span"]["trace"] == span["trace"]  # the message's latest trace
    found = await gql.data("query($m: ID!) { message(id: $m) { trace { id } } }", {"m": msg})
    assert found["message"]["trace"] == {"id": span["trace"]["id"]}


async def test_tool_start_in_a_given_trace_under_a_parent_span(gql: GraphQLClient) -> None:
    conv, msg, _ = await running(gql)
    trace = await factories.trace(gql, conv)
    parent = await factories.span(gql, trace["id"], name="agent")
    version = await factories.component_version(gql, "tool:search", {"v": 1})
    fields = "id span { trace { id } parent { id } componentVersions { id } }"
    links = {"traceId": trace["id"], "parentSpanId": parent["id"]}
    links["componentVersionIds"] = [version["id"]]
    call = await run(
        gql, "reportToolStart", fields, messageId=msg, callId="c", toolName="t", **links
    )
    assert call["span"] == {"trace": trace, "parent": parent, "componentVersions": [version]}


async def test_tool_start_retry_and_rejections(gql: GraphQLClient) -> None:
    conv, msg, _ = await running(gql)
    client_id = str(uuid.uuid4())
    start = {"messageId": msg, "callId": "c1", "toolName": "search", "id": client_id}
    first = await run(gql, "reportToolStart", CALL, **start)
    assert await run(gql, "reportToolStart", CALL, **start) == first
    other = await factories.trace(gql, (await factories.conversation(gql))["id"])
    done = (await factories.message(gql, conv))["id"]
    base = {"messageId": msg, "callId": "c2", "toolName": "t"}
    cases = [
        ({**base, "callId": "c1"}, "CONFLICT"),
        ({**base, "messageId": done}, "CONFLICT"),
        ({**base, "toolName": ""}, "BAD_USER_INPUT"),
        ({**base, "arguments": [1]}, "BAD_USER_INPUT"),
        ({**base, "traceId": other["id"]}, "BAD_USER_INPUT"),
        ({**base, "componentVersionIds": [new_id("ComponentVersion")]}, "NOT_FOUND"),
    ]
    # The default trace is the message's; a span of another trace cannot be the parent.
    elsewhere = await factories.span(gql, (await factories.trace(gql, conv))["id"])
    cases.append(({**base, "parentSpanId": elsewhere["id"]}, "BAD_USER_INPUT"))
    for input, code in cases:
        assert await rejected(gql, conv, "reportToolStart", **input) == code


async def test_tool_end_completes_the_call_and_its_span(gql: GraphQLClient) -> None:
    _, msg, _ = await running(gql)
    started = await run(gql, "reportToolStart", messageId=msg, callId="c1", toolName="t")
    ended = await run(gql, "reportToolEnd", CALL, toolCallId=started["id"], result=[1, 2])
    assert (ended["status"], ended["result"], ended["error"]) == ("COMPLETED", [1, 2], None)
    assert ended["endedAt"] is not None
    assert (ended["span"]["status"], ended["span"]["outputs"]) == ("OK", {"result": [1, 2]})


async def test_tool_end_with_an_error_fails_the_call_and_its_span(gql: GraphQLClient) -> None:
    _, msg, _ = await running(gql)
    started = await run(gql, "reportToolStart", messageId=msg, callId="c1", toolName="t")
    ended = await run(gql, "reportToolEnd", CALL, toolCallId=started["id"], error="timeout")
    assert (ended["status"], ended["error"]) == ("FAILED", "timeout")
    assert (ended["span"]["status"], ended["span"]["error"]) == ("ERROR", "timeout")


async def test_tool_end_rejections(gql: GraphQLClient) -> None:
    conv, msg, _ = await running(gql)
    call = (await run(gql, "reportToolStart", messageId=msg, callId="c1", toolName="t"))["id"]
    cases = [
        ({"endedAt": "2000-01-01T00:00:00Z"}, "BAD_USER_INPUT"),  # before it started
        ({"error": ""}, "BAD_USER_INPUT"),
        ({"toolCallId": new_id("ToolCall")}, "NOT_FOUND"),
    ]
    for input, code in cases:
        assert await rejected(gql, conv, "reportToolEnd", **{"toolCallId": call, **input}) == code
    await run(gql, "reportToolEnd", toolCallId=call)
    assert await rejected(gql, conv, "reportToolEnd", toolCallId=call) == "CONFLICT"


async def test_ask_user_then_answer(gql: GraphQLClient) -> None:
    conv, _, agent = await running(gql)
    asked = await run(gql, "askUser", SESSION, conversationId=conv, question="Which year?")
    assert pick(asked, "id", "status", "question") == (agent["id"], "AWAITING_USER", "Which year?")
    fields = "id role senderId senderType content metadata parent { id }"
    last = f"query($c: ID!) {{ conversation(id: $c) {{ lastMessage {{ {fields} }} }} }}"
    question = (await gql.data(last, {"c": conv}))["conversation"]["lastMessage"]
    assert pick(question, "role", "senderId", "senderType", "content", "metadata") == (
        *("ASSISTANT", "agent-1", "AGENT", "Which year?"),
        {"askUser": True},
    )
    reply = {"conversationId": conv, "answer": "2024", "senderId": "user-1"}
    answer = await run(gql, "answerAgent", fields, **reply)
    assert pick(answer, "role", "content", "parent") == ("USER", "2024", {"id": question["id"]})
    found = (await state(gql, conv))["agentSession"]
    assert (found["status"], found["question"]) == ("ACTIVE", None)


async def test_ask_and_answer_rejections(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    ask = {"conversationId": conv, "question": "?"}
    answer = {"conversationId": conv, "answer": "!", "senderId": "user-1"}
    assert await rejected(gql, conv, "askUser", **ask) == "CONFLICT"  # nothing open
    assert await rejected(gql, conv, "answerAgent", **answer) == "CONFLICT"
    await run(gql, "startAgentSession", conversationId=conv, profileName="agent-1")
    assert await rejected(gql, conv, "answerAgent", **answer) == "CONFLICT"  # not asked
    assert await rejected(gql, conv, "askUser", **{**ask, "question": " "}) == "BAD_USER_INPUT"
    await run(gql, "askUser", **ask)
    assert await rejected(gql, conv, "askUser", **ask) == "CONFLICT"  # already waiting
    assert await rejected(gql, conv, "answerAgent", **{**answer, "answer": ""}) == "BAD_USER_INPUT"
    no_sender = {**answer, "senderId": ""}
    assert await rejected(gql, conv, "answerAgent", **no_sender) == "BAD_USER_INPUT"


async def test_complete_run_ends_the_session_and_its_message(gql: GraphQLClient) -> None:
    conv, msg, agent = await running(gql)
    done = await run(gql, "completeRun", SESSION, conversationId=conv)
    assert pick(done, "id", "status", "message") == (agent["id"], "COMPLETED", {"id": msg})
    assert done["endedAt"] is not None
    found = await state(gql, conv)
    assert found["agentSession"] is None
    assert found["messages"]["nodes"][0]["status"] == "COMPLETE"


async def test_fail_run_ends_the_session_and_the_given_message(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    await run(gql, "startAgentSession", conversationId=conv, profileName="agent-1")
    msg = await streaming(gql, conv)
    failed = await run(gql, "failRun", SESSION, conversationId=conv, error="boom", messageId=msg)
    assert pick(failed, "status", "error", "message") == ("FAILED", "boom", {"id": msg})
    assert (await state(gql, conv))["messages"]["nodes"][0]["status"] == "ERROR"


async def test_a_streaming_message_ends_without_a_session(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    msg = await streaming(gql, conv)
    assert await run(gql, "completeRun", "id", conversationId=conv, messageId=msg) is None
    assert (await state(gql, conv))["messages"]["nodes"][0]["status"] == "COMPLETE"


async def test_ending_rejections(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    complete = (await factories.message(gql, conv))["id"]
    for name, extra in (("completeRun", {}), ("failRun", {"error": "x"})):
        assert await rejected(gql, conv, name, conversationId=conv, **extra) == "CONFLICT"
        nothing = {"conversationId": conv, "messageId": complete, **extra}
        assert await rejected(gql, conv, name, **nothing) == "CONFLICT"
    assert await rejected(gql, conv, "failRun", conversationId=conv, error=" ") == "BAD_USER_INPUT"
    other = await streaming(gql, (await factories.conversation(gql))["id"])
    elsewhere = {"conversationId": conv, "messageId": other}
    assert await rejected(gql, conv, "completeRun", **elsewhere) == "BAD_USER_INPUT"


async def test_a_run_ends_after_its_conversation_closed(gql: GraphQLClient) -> None:
    conv, msg, _ = await running(gql)
    call = (await run(gql, "reportToolStart", messageId=msg, callId="c", toolName="t"))["id"]
    await gql.data("mutation($c: ID!) { closeConversation(id: $c) { id } }", {"c": conv})
    assert await rejected(gql, conv, "appendAnswerChunk", messageId=msg, text="x") == "CONFLICT"
    assert (await run(gql, "reportToolEnd", "status", toolCallId=call))["status"] == "COMPLETED"
    assert (await run(gql, "completeRun", "status", conversationId=conv))["status"] == "COMPLETED"
