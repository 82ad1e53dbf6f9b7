"""A pydantic-ai agent with one tool, instrumenting itself (GenAI conventions), against the
provider through OpenAIChatModel. Its tool results sit under `result` in the next call's
input messages (others say `response`), in a `user` message in message format version 5
(the default) and a `tool` message in version 6; its agent span carries the run's usage
totals, which must not count twice."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import Agent
from pydantic_ai.capabilities import Instrumentation
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.graphql_client import GraphQLClient
from tests.web.instrumented.fake_provider import FakeProvider
from tests.web.instrumented.harness import (
    AGENT,
    QUESTION,
    TOOL_NAME,
    TOOL_RESULT,
    Telemetry,
    app_resource,
    get_weather,
    run_app,
    send_spans,
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

TOOL_SPAN = ("TOOL", f"execute_tool {TOOL_NAME}")
CHAT = ("LLM", "chat gpt-4o-mini")
TREE = [("AGENT", f"invoke_agent {AGENT}", (CHAT, TOOL_SPAN, CHAT))]


async def run_agent(
    provider: FakeProvider, tracer_provider: TracerProvider, version: Literal[5, 6]
) -> str:
    settings = InstrumentationSettings(tracer_provider=tracer_provider, version=version)
    model = OpenAIChatModel(
        "gpt-4o-mini", provider=OpenAIProvider(base_url=provider.url, api_key="test")
    )
    agent = Agent(model, name=AGENT, capabilities=[Instrumentation(settings=settings)])
    agent.tool_plain(get_weather)
    # Entered, the agent closes its HTTP client on leaving (the thread's loop ends too).
    async with agent:
        return (await agent.run(QUESTION)).output


@pytest.mark.parametrize("version", [5, 6])
async def test_an_agent_with_a_tool(
    provider: FakeProvider, telemetry: Telemetry, gql: GraphQLClient, version: Literal[5, 6]
) -> None:
    def app() -> None:
        run = run_agent(provider, telemetry.tracer_provider, version)
        assert asyncio.run(run) == provider.answers()[0]

    await run_app(telemetry, app)
    conversation = await stored_conversation(gql)
    assert transcript(conversation) == [
        ("USER", QUESTION),
        ("ASSISTANT", ""),
        ("TOOL", TOOL_RESULT),
        ("ASSISTANT", *provider.answers()),
    ]
    assert_tool_calls_closed(conversation, provider.call_ids(), span=TOOL_SPAN)
    assert senders(conversation, "ASSISTANT") == {AGENT}
    assert (AGENT, "AGENT") in participants(conversation)
    assert span_trees(conversation) == TREE
    await assert_usage_accounted(gql, conversation, provider.usage())


async def test_a_tool_span_sent_before_its_model_call(
    provider: FakeProvider, threadline: str, gql: GraphQLClient
) -> None:
    """The tool ran elsewhere (an MCP server, say) and its span was exported at once, while
    the agent's process batched the rest: the call it ran arrives after it."""
    memory = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=app_resource())
    tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    await asyncio.to_thread(asyncio.run, run_agent(provider, tracer_provider, 5))
    spans = memory.get_finished_spans()
    tool = [s for s in spans if s.name == TOOL_SPAN[1]]
    await send_spans(threadline, tool)
    await send_spans(threadline, [s for s in spans if s not in tool])
    conversation = await stored_conversation(gql)
    assert_tool_calls_closed(conversation, provider.call_ids(), span=TOOL_SPAN)
    assert span_trees(conversation) == TREE
    await assert_usage_accounted(gql, conversation, provider.usage())
