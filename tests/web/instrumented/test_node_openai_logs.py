"""What Node's @opentelemetry/instrumentation-openai sends, with message content captured:
its chat spans carry the usage, and the messages travel as OTLP log records (GenAI events
named by an `event.name` attribute), each with the trace and span id of its chat span,
over OTLP/HTTP JSON. The two exports race: either may arrive first.

node_openai_traces.json: an Express request span over two chat spans (a tool call, then
the answer once the app sent the tool's result). node_openai_logs.json: their events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.graphql_client import GraphQLClient
from tests.web.instrumented.fake_provider import Usage
from tests.web.instrumented.harness import AGENT, QUESTION, TOOL_RESULT
from tests.web.instrumented.readback import (
    assert_tool_calls_closed,
    assert_usage_accounted,
    participants,
    senders,
    span_trees,
    stored_conversation,
    transcript,
)

HERE = Path(__file__).parent
LOGS = json.loads((HERE / "node_openai_logs.json").read_text())
TRACES = json.loads((HERE / "node_openai_traces.json").read_text())
SYSTEM = "You answer questions about the weather."
ANSWER = "It is 18°C and sunny in Paris."
CHAT = ("LLM", "chat gpt-4o-mini")


def spans() -> list[dict[str, Any]]:
    return [
        span
        for resource in TRACES["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def attribute(item: dict[str, Any], key: str) -> Any:
    """A span's or record's attribute, whatever its type (None when it has none)."""
    for found in item["attributes"]:
        if found["key"] == key:
            return next(iter(found["value"].values()))
    return None


def reported_usage() -> Usage:
    """The tokens the chat spans report."""
    return Usage(
        sum(attribute(s, "gen_ai.usage.input_tokens") or 0 for s in spans()),
        sum(attribute(s, "gen_ai.usage.output_tokens") or 0 for s in spans()),
    )


def answered_call_ids() -> list[str]:
    """The ids of the tool messages the app sent back."""
    records = LOGS["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    tool_messages = [r for r in records if attribute(r, "event.name") == "gen_ai.tool.message"]
    return [
        field["value"]["stringValue"]
        for record in tool_messages
        for field in record["body"]["kvlistValue"]["values"]
        if field["key"] == "id"
    ]


async def post(http: httpx.AsyncClient, signal: str) -> None:
    """POST /v1/<signal> as Node's OTLP/HTTP JSON exporter does; nothing may be refused."""
    body, refused = (LOGS, "rejectedLogRecords") if signal == "logs" else (TRACES, "rejectedSpans")
    response = await http.post(f"/v1/{signal}", json=body)
    assert response.status_code == 200, response.text
    assert int(response.json().get("partialSuccess", {}).get(refused, 0)) == 0, response.text


@pytest.mark.parametrize(
    "order", [("logs", "traces"), ("traces", "logs")], ids=["logs-first", "spans-first"]
)
async def test_events_join_their_spans_in_either_order(
    http: httpx.AsyncClient, gql: GraphQLClient, order: tuple[str, str]
) -> None:
    for signal in order:
        await post(http, signal)
    conversation = await stored_conversation(gql)
    assert transcript(conversation) == [
        ("SYSTEM", SYSTEM),
        ("USER", QUESTION),
        ("ASSISTANT", ""),
        ("TOOL", TOOL_RESULT),
        ("ASSISTANT", ANSWER),
    ]
    assert_tool_calls_closed(conversation, answered_call_ids())
    assert senders(conversation, "ASSISTANT") == {AGENT}
    assert (AGENT, "AGENT") in participants(conversation)
    assert span_trees(conversation) == [("OTHER", "POST /chat", (CHAT, CHAT))]
    await assert_usage_accounted(gql, conversation, reported_usage())
