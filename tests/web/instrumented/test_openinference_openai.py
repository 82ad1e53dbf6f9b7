"""openai's client instrumented by OpenInference: one LLM span per call, each its own trace,
grouped by the session the app names. It has no TOOL span: the app runs the tool and the
result arrives in the next call's input, as a tool message answering the call's id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import openai
from openinference.instrumentation import using_session, using_user
from openinference.instrumentation.openai import OpenAIInstrumentor

from tests.graphql_client import GraphQLClient
from tests.web.instrumented.fake_provider import FakeProvider
from tests.web.instrumented.harness import (
    AGENT,
    QUESTION,
    TOOL_RESULT,
    USER,
    WEATHER_TOOL,
    Telemetry,
    answer,
    instrumented,
    run_app,
)
from tests.web.instrumented.readback import (
    assert_tool_calls_closed,
    assert_usage_accounted,
    participants,
    senders,
    span_trees,
    stored_conversation,
    transcript,
)

LLM = ("LLM", "ChatCompletion")


async def assert_tool_round_trip(provider: FakeProvider, gql: GraphQLClient) -> dict[str, Any]:
    """The stored conversation of a question, a tool call, its result and the answer."""
    conversation = await stored_conversation(gql)
    assert transcript(conversation) == [
        ("USER", QUESTION),
        ("ASSISTANT", ""),
        ("TOOL", TOOL_RESULT),
        ("ASSISTANT", *provider.answers()),
    ]
    assert_tool_calls_closed(conversation, provider.call_ids())
    assert participants(conversation) == PARTICIPANTS
    assert span_trees(conversation) == [LLM, LLM]
    await assert_usage_accounted(gql, conversation, provider.usage())
    return conversation


PARTICIPANTS = {("dev", "USER"), (USER, "USER"), (AGENT, "AGENT")}


@contextmanager
def session(provider: FakeProvider, telemetry: Telemetry) -> Iterator[openai.OpenAI]:
    """A client of the provider, instrumented, in a session of the user's."""
    with (
        instrumented(OpenAIInstrumentor(), tracer_provider=telemetry.tracer_provider),
        openai.OpenAI(base_url=provider.url, api_key="test", max_retries=0) as client,
        using_session("weather-session"),
        using_user(USER),
    ):
        yield client


def converse(client: openai.OpenAI, turns: list[str], tools: list[Any] | None = None) -> None:
    """One user turn after the other, the history so far sent with each call."""
    history: list[dict[str, Any]] = []
    for turn in turns:
        history.append({"role": "user", "content": turn})
        answer(client, history, tools or [])


async def test_a_plain_call(
    provider: FakeProvider, telemetry: Telemetry, gql: GraphQLClient
) -> None:
    def app() -> None:
        with session(provider, telemetry) as client:
            converse(client, [QUESTION])

    await run_app(telemetry, app)
    conversation = await stored_conversation(gql)
    assert transcript(conversation) == [("USER", QUESTION), ("ASSISTANT", *provider.answers())]
    assert (senders(conversation, "USER"), senders(conversation, "ASSISTANT")) == (
        {USER},
        {AGENT},
    )
    assert participants(conversation) == PARTICIPANTS
    assert span_trees(conversation) == [LLM]
    await assert_usage_accounted(gql, conversation, provider.usage())


async def test_a_tool_call_closes_from_the_next_calls_input(
    provider: FakeProvider, telemetry: Telemetry, gql: GraphQLClient
) -> None:
    def app() -> None:
        with session(provider, telemetry) as client:
            converse(client, [QUESTION], tools=[WEATHER_TOOL])

    await run_app(telemetry, app)
    conversation = await assert_tool_round_trip(provider, gql)
    assert senders(conversation, "ASSISTANT") == {AGENT}


async def test_the_same_words_said_twice_are_two_messages(
    provider: FakeProvider, telemetry: Telemetry, gql: GraphQLClient
) -> None:
    """Two turns, each its own trace, the second re-sending the first: "yes" twice."""

    def app() -> None:
        with session(provider, telemetry) as client:
            converse(client, ["yes", "yes"])

    await run_app(telemetry, app)
    conversation = await stored_conversation(gql)
    first, second = provider.answers()
    assert transcript(conversation) == [
        ("USER", "yes"),
        ("ASSISTANT", first),
        ("USER", "yes"),
        ("ASSISTANT", second),
    ]
    assert span_trees(conversation) == [LLM, LLM]
    await assert_usage_accounted(gql, conversation, provider.usage())


def streamed(
    client: openai.OpenAI, history: list[dict[str, Any]], tools: list[Any]
) -> dict[str, Any]:
    """One streamed call, the message put together from its chunks as an app does."""
    content = ""
    calls: dict[int, dict[str, Any]] = {}
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=cast(Any, history),
        tools=tools,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            for delta in choice.delta.tool_calls or []:
                function = {"name": "", "arguments": ""}
                call = calls.setdefault(delta.index, {"type": "function", "function": function})
                if delta.id:
                    call["id"] = delta.id
                if delta.function:
                    call["function"]["name"] += delta.function.name or ""
                    call["function"]["arguments"] += delta.function.arguments or ""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    return message


async def test_a_streamed_tool_round_trip(
    provider: FakeProvider, telemetry: Telemetry, gql: GraphQLClient
) -> None:
    """Streamed with include_usage: the tool call arrives in pieces, the usage last."""

    def app() -> None:
        with session(provider, telemetry) as client:
            history = [{"role": "user", "content": QUESTION}]
            answer(client, history, [WEATHER_TOOL], ask=streamed)
            assert history[-1]["content"] == provider.answers()[0]

    await run_app(telemetry, app)
    await assert_tool_round_trip(provider, gql)
