"""openai's client instrumented by OpenTelemetry's opentelemetry-instrumentation-openai-v2,
in its default GenAI conventions (v1.30): a span per call with its usage and no content;
with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true the messages travel as log
records (GenAI events named by the record's event_name), posted to /v1/logs before their
span ends. The app wraps its run in an agent span of its own, so the run is one trace."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

from tests.graphql_client import GraphQLClient
from tests.web.instrumented.fake_provider import FakeProvider
from tests.web.instrumented.harness import (
    AGENT,
    QUESTION,
    TOOL_RESULT,
    WEATHER_TOOL,
    Telemetry,
    agent_span,
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

SYSTEM = "You answer questions about the weather."
CHAT = ("LLM", "chat gpt-4o-mini")
TREE = [("AGENT", f"invoke_agent {AGENT}", (CHAT, CHAT))]


def weather_run(provider: FakeProvider, telemetry: Telemetry, **options: Any) -> None:
    """A tool round trip under the app's agent span; `options` go to the instrumentor."""
    history: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
    ]
    instrumentor = OpenAIInstrumentor()
    with (
        instrumented(instrumentor, tracer_provider=telemetry.tracer_provider, **options),
        openai.OpenAI(base_url=provider.url, api_key="test", max_retries=0) as client,
        agent_span(telemetry),
    ):
        answer(client, history, [WEATHER_TOOL])


async def test_default_mode_counts_the_usage_it_reports(
    provider: FakeProvider, telemetry: Telemetry, gql: GraphQLClient
) -> None:
    """No content is captured, and the app sends traces only: the spans' usage is all
    there is, and the conversation must count it as the trace does."""
    await run_app(telemetry, lambda: weather_run(provider, telemetry))
    conversation = await stored_conversation(gql)
    assert span_trees(conversation) == TREE
    await assert_usage_accounted(gql, conversation, provider.usage())
    assert (AGENT, "AGENT") in participants(conversation)


async def test_captured_content_arrives_as_log_records(
    provider: FakeProvider,
    telemetry: Telemetry,
    gql: GraphQLClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Read when the instrumentor starts.
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    logs = {"logger_provider": telemetry.logger_provider}
    await run_app(telemetry, lambda: weather_run(provider, telemetry, **logs))
    conversation = await stored_conversation(gql)
    assert transcript(conversation) == [
        ("SYSTEM", SYSTEM),
        ("USER", QUESTION),
        ("ASSISTANT", ""),
        ("TOOL", TOOL_RESULT),
        ("ASSISTANT", *provider.answers()),
    ]
    assert_tool_calls_closed(conversation, provider.call_ids())
    assert senders(conversation, "ASSISTANT") == {AGENT}
    assert span_trees(conversation) == TREE
    await assert_usage_accounted(gql, conversation, provider.usage())
    assert (AGENT, "AGENT") in participants(conversation)
