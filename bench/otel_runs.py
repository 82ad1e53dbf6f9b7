"""A small agent run recorded with the OpenTelemetry SDK, in either convention.

The run: the user asks for the weather, an LLM call asks for a tool, the tool runs,
a second LLM call (re-sending the history) answers. Used by the ingestion tests and
the ingestion benchmark, so both send what real instrumentations send.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Status, StatusCode, Tracer

GENAI = "genai"
OPENINFERENCE = "openinference"
QUESTION = "What is the weather in Paris?"
ARGUMENTS = {"city": "Paris"}
RESULT = "18°C and sunny"
ANSWER = "It is 18°C and sunny in Paris."


class FreshIds(IdGenerator):
    """Ids from the operating system: the SDK's come from `random`, which a seeded test
    (Hypothesis) makes repeat, and a repeated span id is a span sent again."""

    def generate_span_id(self) -> int:
        return secrets.randbits(64) or 1

    def generate_trace_id(self) -> int:
        return secrets.randbits(128) or 1


class Recorder:
    """A tracer whose finished spans are kept in memory, to be exported on demand."""

    def __init__(self, service: str = "weather-agent") -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service}), id_generator=FreshIds()
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer: Tracer = self.provider.get_tracer("threadline-tests")

    def take(self) -> tuple[ReadableSpan, ...]:
        spans = self.memory.get_finished_spans()
        self.memory.clear()
        return spans


def protobuf_body(spans: Sequence[ReadableSpan]) -> bytes:
    """An ExportTraceServiceRequest, as the OTLP/HTTP exporter sends it."""
    return encode_spans(spans).SerializeToString()


def genai_messages(*messages: tuple[str, list[dict[str, Any]]]) -> str:
    return json.dumps([{"role": role, "parts": parts} for role, parts in messages])


def run_genai(tracer: Tracer, conversation: str, *, fail_tool: bool = False) -> None:
    """An agent run in OpenTelemetry's GenAI semantic conventions."""
    common = {"gen_ai.conversation.id": conversation, "gen_ai.provider.name": "openai"}
    user = ("user", [{"type": "text", "content": QUESTION}])
    call = {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": ARGUMENTS}
    asks = ("assistant", [call])
    answer = ("tool", [{"type": "tool_call_response", "id": "call_1", "response": RESULT}])
    with tracer.start_as_current_span(
        "invoke_agent weather-agent",
        attributes={**common, "gen_ai.operation.name": "invoke_agent"},
    ):
        llm = {**common, "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
        with tracer.start_as_current_span("chat gpt-4o", attributes=llm) as span:
            span.set_attribute("gen_ai.input.messages", genai_messages(user))
            span.set_attribute("gen_ai.output.messages", genai_messages(asks))
            span.set_attribute("gen_ai.usage.input_tokens", 50)
            span.set_attribute("gen_ai.usage.output_tokens", 10)
        tool = {
            **common,
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": json.dumps(ARGUMENTS),
        }
        with tracer.start_as_current_span("execute_tool get_weather", attributes=tool) as span:
            if fail_tool:
                span.set_status(Status(StatusCode.ERROR, "weather service down"))
            else:
                span.set_attribute("gen_ai.tool.call.result", RESULT)
        with tracer.start_as_current_span("chat gpt-4o", attributes=llm) as span:
            final = ("assistant", [{"type": "text", "content": ANSWER}])
            span.set_attribute("gen_ai.input.messages", genai_messages(user, asks, answer))
            span.set_attribute("gen_ai.output.messages", genai_messages(final))
            span.set_attribute("gen_ai.usage.input_tokens", 80)
            span.set_attribute("gen_ai.usage.output_tokens", 12)


def _oi_message(direction: str, index: int, role: str, **fields: Any) -> dict[str, Any]:
    prefix = f"llm.{direction}_messages.{index}.message"
    found: dict[str, Any] = {f"{prefix}.role": role}
    for name, value in fields.items():
        found[f"{prefix}.{name}"] = value
    return found


def run_openinference(tracer: Tracer, session: str) -> None:
    """The same run in OpenInference's conventions (as its LangChain/OpenAI instrumentors)."""
    common = {"session.id": session, "user.id": "ada"}
    call = {
        "tool_calls.0.tool_call.id": "call_1",
        "tool_calls.0.tool_call.function.name": "get_weather",
        "tool_calls.0.tool_call.function.arguments": json.dumps(ARGUMENTS),
    }
    user = _oi_message("input", 0, "user", content=QUESTION)
    llm = {
        **common,
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o",
        "llm.provider": "openai",
    }
    agent = {**common, "openinference.span.kind": "AGENT", "input.value": QUESTION}
    with tracer.start_as_current_span("Agent", attributes=agent) as root:
        with tracer.start_as_current_span("ChatOpenAI", attributes=llm) as span:
            span.set_attributes({**user, **_oi_message("output", 0, "assistant", **call)})
            span.set_attributes({"llm.token_count.prompt": 50, "llm.token_count.completion": 10})
        tool = {
            **common,
            "openinference.span.kind": "TOOL",
            "tool.name": "get_weather",
            "input.value": json.dumps(ARGUMENTS),
            "output.value": RESULT,
        }
        with tracer.start_as_current_span("get_weather", attributes=tool):
            pass
        with tracer.start_as_current_span("ChatOpenAI", attributes=llm) as span:
            span.set_attributes(
                {
                    **user,
                    **_oi_message("input", 1, "assistant", **call),
                    **_oi_message("input", 2, "tool", content=RESULT, tool_call_id="call_1"),
                    **_oi_message("output", 0, "assistant", content=ANSWER),
                    "llm.token_count.prompt": 80,
                    "llm.token_count.completion": 12,
                    "llm.token_count.total": 92,
                }
            )
        root.set_attribute("output.value", ANSWER)
