"""The application side: an app's telemetry set up as its docs say, exporting to Threadline
over OTLP/HTTP, and the weather tool the apps run themselves.

Each test gets a TracerProvider (and a LoggerProvider, for instrumentations that put
message content in log records) whose processors are Simple*: every span, every record,
is posted the moment it ends, so everything has arrived when the app returns. The
instrumented clients block, so the app runs on a thread (`run_app`) while Threadline is
served on the tests' event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import openai
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Span

from tests.web.instrumented.fake_provider import TOOL_ARGUMENTS, Usage

# The app: its service name, which is also the agent's name where an instrumentation
# names one, and its user, where the app tells the instrumentation who that is.
AGENT = "weather-agent"
USER = "ada"
QUESTION = "What is the weather in Paris?"
TOOL_NAME = "get_weather"
# OpenAI's list prices for gpt-4o-mini, USD per million tokens (openai.com/api/pricing,
# unchanged since the model's release on 2024-07-18): input, output.
GPT_4O_MINI = (Decimal("0.15"), Decimal("0.60"))


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"18°C and sunny in {city}"


TOOL_RESULT = get_weather(TOOL_ARGUMENTS["city"])
# The tool as the OpenAI API is told about it.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


# One call to the model: the assistant's message, as the API's JSON has it.
Ask = Callable[[openai.OpenAI, list[dict[str, Any]], list[Any]], dict[str, Any]]


def complete(
    client: openai.OpenAI, history: list[dict[str, Any]], tools: list[Any]
) -> dict[str, Any]:
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=cast(Any, history), tools=tools or openai.omit
    )
    return reply.choices[0].message.model_dump(exclude_none=True)


def answer(
    client: openai.OpenAI, history: list[dict[str, Any]], tools: list[Any], ask: Ask = complete
) -> None:
    """Call the model until it answers, as an app does: each tool it calls is run and the
    result sent back in the next call. Every message is appended to `history`."""
    while True:
        message = ask(client, history, tools)
        history.append(message)
        if not message.get("tool_calls"):
            return
        for call in message["tool_calls"]:
            output = get_weather(**json.loads(call["function"]["arguments"]))
            history.append({"role": "tool", "tool_call_id": call["id"], "content": output})


def expected_cost(usage: Usage) -> Decimal:
    """What gpt-4o-mini charges for this usage, exactly."""
    per_input, per_output = GPT_4O_MINI
    return (usage.input_tokens * per_input + usage.output_tokens * per_output) / 1_000_000


class _SpanExporter(OTLPSpanExporter):
    """The SDK's exporter, noting every export Threadline did not accept."""

    def __init__(self, endpoint: str, refused: list[str]) -> None:
        super().__init__(endpoint=endpoint)
        self.refused = refused

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.refused.append(f"spans {[s.name for s in spans]}")
        return result


class _LogExporter(OTLPLogExporter):
    """The SDK's exporter, noting every export Threadline did not accept."""

    def __init__(self, endpoint: str, refused: list[str]) -> None:
        super().__init__(endpoint=endpoint)
        self.refused = refused

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        result = super().export(batch)
        if result is not LogRecordExportResult.SUCCESS:
            events = [r.log_record.event_name for r in batch]
            self.refused.append(f"log records {events}")
        return result


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    # Exports Threadline answered with anything but success.
    refused: list[str] = field(default_factory=list)


def app_resource() -> Resource:
    return Resource.create({"service.name": AGENT})


@contextmanager
def recording(threadline: str) -> Iterator[Telemetry]:
    """Providers exporting to Threadline at `threadline` (its base URL), shut down after."""
    resource = app_resource()
    refused: list[str] = []
    tracer_provider = TracerProvider(resource=resource)
    spans = _SpanExporter(f"{threadline}/v1/traces", refused)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=resource)
    logs = _LogExporter(f"{threadline}/v1/logs", refused)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    try:
        yield Telemetry(tracer_provider, logger_provider, refused)
    finally:
        tracer_provider.shutdown()
        logger_provider.shutdown()


@contextmanager
def instrumented(instrumentor: BaseInstrumentor, **options: Any) -> Iterator[None]:
    """`instrumentor` on for the block: instrumentors patch their library globally, so
    each test turns its own off again."""
    instrumentor.instrument(**options)
    try:
        yield
    finally:
        instrumentor.uninstrument()


@contextmanager
def agent_span(telemetry: Telemetry) -> Iterator[Span]:
    """The app's own span around a run, as the GenAI conventions name an agent's."""
    tracer = telemetry.tracer_provider.get_tracer("weather-app")
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": AGENT}
    with tracer.start_as_current_span(f"invoke_agent {AGENT}", attributes=attributes) as span:
        yield span


async def run_app(telemetry: Telemetry, app: Callable[[], object]) -> None:
    """Run the app on a thread (its exports block on Threadline, served on this loop);
    every export must have been accepted."""
    await asyncio.to_thread(app)
    assert telemetry.refused == []


async def send_spans(threadline: str, spans: Sequence[ReadableSpan]) -> None:
    """One export of these spans, as a batching processor sends them; it must succeed."""
    exporter = OTLPSpanExporter(endpoint=f"{threadline}/v1/traces")
    try:
        assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
