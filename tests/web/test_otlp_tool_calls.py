"""Tool calls close from whatever reports their end: a TOOL span, or the next model call's
history (a tool message answering the call id), as instrumentation libraries send them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.web.otlp_json import (
    at,
    conversation,
    event_kinds,
    flat,
    flat_call,
    genai,
    post,
    span,
    text,
    when,
)
from tests.ws_client import GraphQLWebSocket

QUESTION = "What is the weather in Paris?"
WEATHER = {"temp": 18, "sky": "sunny"}
# As the tool wrote it: key order and spacing kept in the TOOL message.
WEATHER_TEXT = '{"temp": 18,  "sky": "sunny"}'


def openinference_llm(
    key: str, trace: int, number: int, start: int, *messages: dict[str, Any]
) -> dict[str, Any]:
    """An OpenInference OpenAI LLM span (no TOOL spans: it instruments the client only);
    the last message is its output."""
    attributes = {
        "session.id": key,
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        **flat("input", *messages[:-1]),
        **flat("output", messages[-1]),
    }
    return span(trace, number, "ChatCompletion", attributes, start=start, end=start + 100)


def asks(*calls: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {"role": "assistant"}
    for index, (call_id, name, arguments) in enumerate(calls):
        found.update(flat_call(index, call_id, name, arguments))
    return found


@pytest.mark.parametrize("batches", [1, 2])
async def test_openinference_calls_close_from_the_next_turn(
    http: httpx.AsyncClient, gql: GraphQLClient, batches: int
) -> None:
    """No TOOL span ever comes: the tool message of the next call's history closes it."""
    user = {"role": "user", "content": QUESTION}
    call = asks(("call_1", "get_weather", {"city": "Paris"}), ("call_2", "get_time", {}))
    result = {"role": "tool", "content": WEATHER_TEXT, "tool_call_id": "call_1"}
    first = openinference_llm("oi-close", 1, 1, 0, user, call)
    second = openinference_llm(
        "oi-close", 1, 2, 300, user, call, result, {"role": "assistant", "content": "Sunny."}
    )
    for part in [[first, second]] if batches == 1 else [[first], [second]]:
        await post(http, *part)
    found = await conversation(gql, "oi-close")
    messages = found["messages"]["nodes"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("USER", QUESTION),
        ("ASSISTANT", ""),
        ("TOOL", WEATHER_TEXT),
        ("ASSISTANT", "Sunny."),
    ]
    weather, clock = messages[1]["toolCalls"]
    assert (weather["status"], weather["result"], weather["error"], weather["span"]) == (
        "COMPLETED",
        WEATHER,
        None,
        None,
    )
    # Asked for when the first call ended, answered when the second one started.
    assert (when(weather["startedAt"]), when(weather["endedAt"])) == (at(100), at(300))
    # Nothing answered the other call: it stays open.
    assert (clock["status"], clock["result"], clock["endedAt"]) == ("PENDING", None, None)


async def test_an_anthropic_error_result_fails_its_call(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """Anthropic's content blocks: tool_use, then a user turn holding a tool_result with
    is_error and text after it."""
    user = {"role": "user", "content": "Find order 7"}
    assistant = {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"order": 7}},
        ],
    }
    answer = {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": [{"type": "text", "text": "orders service down"}],
                "is_error": True,
            },
            {"type": "text", "text": "Try again later then."},
        ],
    }
    common = {"gen_ai.conversation.id": "anthropic", "gen_ai.operation.name": "chat"}
    asked = {
        "gen_ai.input.messages": json.dumps([user]),
        "gen_ai.output.messages": json.dumps([assistant]),
    }
    answered = {"gen_ai.input.messages": json.dumps([user, assistant, answer])}
    await post(
        http,
        span(1, 1, "chat", {**common, **asked}),
        span(1, 2, "chat", {**common, **answered}, start=300),
    )
    messages = (await conversation(gql, "anthropic"))["messages"]["nodes"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("USER", "Find order 7"),
        ("ASSISTANT", "Let me look."),
        ("TOOL", "orders service down"),
        ("USER", "Try again later then."),
    ]
    (call,) = messages[1]["toolCalls"]
    assert (call["callId"], call["arguments"], call["status"]) == (
        "toolu_1",
        {"order": 7},
        "FAILED",
    )
    assert (call["result"], call["error"]) == ("orders service down", "orders service down")


@pytest.mark.parametrize("role", ["user", "tool"])
async def test_pydantic_ai_tool_returns_are_tool_messages(
    http: httpx.AsyncClient, gql: GraphQLClient, role: str
) -> None:
    """pydantic-ai writes results under `result`, in a request of role "user" (older
    message formats) or "tool": one TOOL message per result, never an empty message."""
    common = {"gen_ai.conversation.id": f"pydantic-{role}", "gen_ai.operation.name": "chat"}
    user = ("user", [text("Weather and time in Paris?")])
    calls = (
        "assistant",
        [
            {"type": "tool_call", "id": "pyd_a", "name": "weather", "arguments": {"city": "Paris"}},
            {"type": "tool_call", "id": "pyd_b", "name": "clock", "arguments": {"tz": "CET"}},
        ],
    )
    results: tuple[str, list[dict[str, Any]]] = (
        role,
        [
            {"type": "tool_call_response", "id": "pyd_a", "name": "weather", "result": WEATHER},
            {"type": "tool_call_response", "id": "pyd_b", "name": "clock", "result": "12:00"},
        ],
    )
    answer = ("assistant", [text("18°C and sunny; it is noon.")])
    await post(
        http,
        span(
            1,
            1,
            "chat gpt-4o",
            {
                **common,
                "gen_ai.input.messages": genai(user),
                "gen_ai.output.messages": genai(calls),
            },
        ),
        span(
            1,
            2,
            "chat gpt-4o",
            {
                **common,
                "gen_ai.input.messages": genai(user, calls, results),
                "gen_ai.output.messages": genai(answer),
            },
            start=300,
        ),
    )
    messages = (await conversation(gql, f"pydantic-{role}"))["messages"]["nodes"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("USER", "Weather and time in Paris?"),
        ("ASSISTANT", ""),
        ("TOOL", json.dumps(WEATHER, sort_keys=True)),
        ("TOOL", "12:00"),
        ("ASSISTANT", "18°C and sunny; it is noon."),
    ]
    assert [(c["callId"], c["status"], c["result"]) for c in messages[1]["toolCalls"]] == [
        ("pyd_a", "COMPLETED", WEATHER),
        ("pyd_b", "COMPLETED", "12:00"),
    ]


TOOL_MESSAGE = {"content": "42", "tool_call_id": "call_m", "name": "multiply", "id": "run-1"}
ENVELOPES = {
    "messages_to_dict": ({"type": "tool", "data": {**TOOL_MESSAGE, "type": "tool"}}, "42"),
    "dumpd": (
        {
            "lc": 1,
            "type": "constructor",
            "id": ["langchain", "schema", "messages", "ToolMessage"],
            "kwargs": {**TOOL_MESSAGE, "type": "tool", "status": "success"},
        },
        "42",
    ),
    "model_dump": ({**TOOL_MESSAGE, "type": "tool", "artifact": None}, "42"),
    "json_in_text_parts": (
        {
            "type": "tool",
            "data": {**TOOL_MESSAGE, "content": [{"type": "text", "text": '{"product": 42}'}]},
        },
        {"product": 42},
    ),
}


@pytest.mark.parametrize("form", sorted(ENVELOPES))
async def test_langchain_tool_spans_give_the_tools_output(
    http: httpx.AsyncClient, gql: GraphQLClient, form: str
) -> None:
    """OpenInference's LangChain TOOL span holds the serialised ToolMessage: the call's
    result is the tool's output, the same the tool message of the next turn carries."""
    envelope, output = ENVELOPES[form]
    key = f"langchain-{form}"
    common = {"session.id": key, "user.id": "ada"}
    llm = {**common, "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini"}
    user = {"role": "user", "content": "6 times 7?"}
    call = asks(("call_m", "multiply", {"a": 6, "b": 7}))
    tool = {
        **common,
        "openinference.span.kind": "TOOL",
        "tool.name": "multiply",
        "input.value": json.dumps({"a": 6, "b": 7}),
        "output.value": json.dumps(envelope),
    }
    answered = {"role": "tool", "content": "42", "tool_call_id": "call_m"}
    await post(
        http,
        span(1, 1, "RunnableSequence", {**common, "openinference.span.kind": "CHAIN"}, end=600),
        span(1, 2, "ChatOpenAI", {**llm, **flat("input", user), **flat("output", call)}, parent=1),
        span(1, 3, "multiply", tool, parent=1, start=150, end=200),
        span(
            1,
            4,
            "ChatOpenAI",
            {
                **llm,
                **flat("input", user, call, answered),
                **flat("output", {"role": "assistant", "content": "42."}),
            },
            parent=1,
            start=300,
        ),
    )
    messages = (await conversation(gql, key))["messages"]["nodes"]
    (found,) = messages[1]["toolCalls"]
    assert (found["status"], found["result"], found["span"]) == (
        "COMPLETED",
        output,
        {"name": "multiply"},
    )
    assert (when(found["startedAt"]), when(found["endedAt"])) == (at(150), at(200))


async def test_a_tool_message_saying_error_fails_the_span_call(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """A ToolMessage with status "error" (LangChain's handle_tool_error) fails its call."""
    envelope = {
        "type": "tool",
        "data": {**TOOL_MESSAGE, "content": "division by zero", "status": "error"},
    }
    tool = {
        "session.id": "langchain-error",
        "openinference.span.kind": "TOOL",
        "tool.name": "multiply",
        "output.value": json.dumps(envelope),
    }
    llm = {"session.id": "langchain-error", "openinference.span.kind": "LLM"}
    call = asks(("call_m", "multiply", {"a": 6, "b": 0}))
    await post(
        http,
        span(
            1,
            1,
            "ChatOpenAI",
            {**llm, **flat("input", {"role": "user", "content": "6/0"}), **flat("output", call)},
        ),
        span(1, 2, "multiply", tool, start=150, end=200),
    )
    (found,) = (await conversation(gql, "langchain-error"))["messages"]["nodes"][1]["toolCalls"]
    assert (found["status"], found["result"], found["error"]) == (
        "FAILED",
        "division by zero",
        "division by zero",
    )


def genai_turns(key: str, trace: int, result: str) -> list[dict[str, Any]]:
    """Two chat spans of the GenAI conventions: the call asked for, then answered."""
    common = {"gen_ai.conversation.id": key, "gen_ai.operation.name": "chat"}
    user = ("user", [text(QUESTION)])
    call = (
        "assistant",
        [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {}}],
    )
    answer = ("tool", [{"type": "tool_call_response", "id": "call_1", "response": result}])
    return [
        span(
            trace,
            1,
            "chat",
            {**common, "gen_ai.input.messages": genai(user), "gen_ai.output.messages": genai(call)},
        ),
        span(
            trace,
            2,
            "chat",
            {
                **common,
                "gen_ai.input.messages": genai(user, call, answer),
                "gen_ai.output.messages": genai(("assistant", [text("Sunny.")])),
            },
            start=300,
        ),
    ]


def execute_tool(
    key: str, trace: int, number: int, call_id: str, result: str, start: int, end: int
) -> dict[str, Any]:
    attributes = {
        "gen_ai.conversation.id": key,
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.call.result": result,
    }
    return span(trace, number, "execute_tool get_weather", attributes, start=start, end=end)


async def test_a_tool_span_refines_a_call_its_result_closed(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    await post(http, *genai_turns("refined", 1, "sunny"))
    (call,) = (await conversation(gql, "refined"))["messages"]["nodes"][1]["toolCalls"]
    assert (call["status"], call["result"], call["span"]) == ("COMPLETED", "sunny", None)
    # The TOOL span comes in a later export: it links the call, with its own account.
    await post(http, execute_tool("refined", 1, 3, "call_1", "18°C and sunny", 120, 250))
    found = await conversation(gql, "refined")
    (call,) = found["messages"]["nodes"][1]["toolCalls"]
    assert (call["status"], call["result"], call["span"]) == (
        "COMPLETED",
        "18°C and sunny",
        {"name": "execute_tool get_weather"},
    )
    assert (when(call["startedAt"]), when(call["endedAt"])) == (at(120), at(250))
    # It was announced once, when it first closed.
    kinds = await event_kinds(gql, ws, found["id"])
    assert (kinds.count("TOOL_START"), kinds.count("TOOL_END")) == (1, 1)


async def test_a_tool_message_does_not_overwrite_what_a_span_reported(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    first, second = genai_turns("span-first", 1, "what the message says")
    await post(
        http, first, execute_tool("span-first", 1, 3, "call_1", "what the span says", 120, 250)
    )
    await post(http, second)
    (call,) = (await conversation(gql, "span-first"))["messages"]["nodes"][1]["toolCalls"]
    assert (call["result"], call["span"]["name"]) == (
        "what the span says",
        "execute_tool get_weather",
    )
    assert when(call["endedAt"]) == at(250)


async def test_a_tool_span_stored_before_its_call_links_when_the_call_arrives(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    first, _ = genai_turns("early", 1, "unused")
    await post(
        http,
        execute_tool("early", 1, 3, "call_1", '{"temp": 18}', 120, 250),
        # Another run's tool span, never asked for here: it stays alone.
        execute_tool("early", 2, 1, "call_9", "never asked", 0, 10),
    )
    await post(http, first)
    found = await conversation(gql, "early")
    (call,) = found["messages"]["nodes"][1]["toolCalls"]
    assert (call["status"], call["result"], call["span"]) == (
        "COMPLETED",
        {"temp": 18},
        {"name": "execute_tool get_weather"},
    )
    assert (when(call["startedAt"]), when(call["endedAt"])) == (at(120), at(250))
    kinds = await event_kinds(gql, ws, found["id"])
    assert (kinds.count("TOOL_START"), kinds.count("TOOL_END")) == (1, 1)
    # A later call reusing the id does not take a span another call already holds.
    common = {"gen_ai.conversation.id": "early", "gen_ai.operation.name": "chat"}
    again = (
        "assistant",
        [
            {
                "type": "tool_call",
                "id": "call_1",
                "name": "get_weather",
                "arguments": {"city": "Nice"},
            }
        ],
    )
    await post(
        http,
        span(
            3,
            1,
            "chat",
            {
                **common,
                "gen_ai.input.messages": genai(("user", [text("And Nice?")])),
                "gen_ai.output.messages": genai(again),
            },
        ),
    )
    messages = (await conversation(gql, "early"))["messages"]["nodes"]
    (later,) = messages[-1]["toolCalls"]
    assert (later["status"], later["span"]) == ("PENDING", None)


def counted_batches(key: str, trace: int, calls: int) -> list[list[dict[str, Any]]]:
    """Three exports of one run with `calls` parallel tool calls: the TOOL spans of half of
    them first, then the model call asking for all, then the one answering all."""
    common = {"gen_ai.conversation.id": key, "gen_ai.operation.name": "chat"}
    ids = [f"call_{n}" for n in range(2 * calls)]
    user = ("user", [text(QUESTION)])
    asked = (
        "assistant",
        [{"type": "tool_call", "id": i, "name": "get_weather", "arguments": {}} for i in ids],
    )
    answers = [
        ("tool", [{"type": "tool_call_response", "id": i, "response": "sunny"}]) for i in ids
    ]
    early = [execute_tool(key, trace, 10 + n, ids[n], "sunny", 110, 120) for n in range(calls)]
    ask = span(
        trace,
        1,
        "chat",
        {**common, "gen_ai.input.messages": genai(user), "gen_ai.output.messages": genai(asked)},
    )
    answer = span(
        trace,
        2,
        "chat",
        {
            **common,
            "gen_ai.input.messages": genai(user, asked, *answers),
            "gen_ai.output.messages": genai(("assistant", [text("Sunny.")])),
        },
        start=300,
    )
    return [early, [ask], [answer]]


async def test_statements_per_export_do_not_grow_with_its_tool_calls(
    http: httpx.AsyncClient, gql: GraphQLClient, sql: StatementCounter
) -> None:
    # The installation's secret is read once per process: before counting.
    await post(http, span(99, 1, "warm-up", {}))
    counts: dict[int, list[int]] = {}
    for calls in (1, 6):
        counts[calls] = []
        for batch in counted_batches(f"counted-{calls}", calls, calls):
            sql.reset()
            await post(http, *batch)
            # The event log is written a row a statement on SQLite (one COPY on
            # PostgreSQL): resolvers.events' business, not the tool calls'.
            counted = [s for s in sql.statements if not s.startswith("INSERT INTO events")]
            counts[calls].append(len(counted))
        messages = (await conversation(gql, f"counted-{calls}"))["messages"]["nodes"]
        statuses = {c["status"] for c in messages[1]["toolCalls"]}
        linked = [c for c in messages[1]["toolCalls"] if c["span"]]
        assert (len(messages[1]["toolCalls"]), statuses, len(linked)) == (
            2 * calls,
            {"COMPLETED"},
            calls,
        )
    assert counts[1] == counts[6]
