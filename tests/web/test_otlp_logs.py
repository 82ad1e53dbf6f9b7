"""POST /v1/logs: GenAI events sent as log records, stored with the spans they belong to.

The payloads are what OpenTelemetry's Node OpenAI instrumentation sends (OTLP JSON, the
event name in the `event.name` attribute, bodies as kvlists), and what the Python SDK's
own exporters send (protobuf, gzip, the event name in the record's `event_name`).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette

from bench.otel_runs import ANSWER, QUESTION, RESULT, Recorder
from config import Settings
from models import PendingLogRecord, Trace
from models.base import utcnow
from resolvers.context import Context
from resolvers.ids import from_global_id, to_global_id
from resolvers.ingest.ids import trace_row
from resolvers.ingest.namespace import owner_namespace
from resolvers.retention import sweep
from tests.conftest import StatementCounter, served
from tests.graphql_client import GraphQLClient
from tests.identities import as_user, new_key
from tests.web.conftest import app_with
from tests.web.test_otlp import conversation_id, export
from tests.ws_client import GraphQLWebSocket

SYSTEM = "You answer questions about the weather."
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
START = 1_750_000_000_000_000_000
MS = 1_000_000
CONVERSATION = """query($id: ID!) { conversation(id: $id) {
  totalTokens messageCount
  messages(first: 20) { nodes {
    role content senderId model parent { content }
    toolCalls { callId toolName arguments result status }
  } }
  traces { nodes { totalTokens } }
} }"""
EXPECTED = [
    ("SYSTEM", SYSTEM, None),
    ("USER", QUESTION, SYSTEM),
    ("ASSISTANT", "", QUESTION),
    ("TOOL", RESULT, ""),
    ("ASSISTANT", ANSWER, RESULT),
]


def any_value(value: Any) -> dict[str, Any]:
    """A plain value as OTLP JSON's AnyValue."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"kvlistValue": {"values": key_values(value)}}


def key_values(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in values.items()]


class NodeRun:
    """An agent run as an app instrumented with @opentelemetry/instrumentation-openai
    exports it: its own root span, a chat span per model call (no messages on them),
    and the calls' messages as log records of those spans."""

    def __init__(self, conversation: str, number: int) -> None:
        self.conversation = conversation
        self.trace = f"{number:032x}"
        self.root, self.first, self.second = (f"{number:08x}{n:08x}" for n in (1, 2, 3))

    def spans(self) -> dict[str, Any]:
        root = self._span(self.root, None, "weather run", 0, 900, {})
        root["attributes"] = key_values({"gen_ai.conversation.id": self.conversation})
        return self._export(
            "resourceSpans",
            "scopeSpans",
            "spans",
            [
                root,
                self._span(self.first, self.root, "chat gpt-4o-mini", 100, 400, self._chat(50, 10)),
                self._span(
                    self.second, self.root, "chat gpt-4o-mini", 500, 800, self._chat(80, 12)
                ),
            ],
        )

    def first_call(self) -> list[dict[str, Any]]:
        asks = {"finish_reason": "tool_calls", "index": 0, "message": {"tool_calls": [CALL]}}
        return [
            *self._history(self.first, 100),
            self._record(self.first, 400, "gen_ai.choice", asks),
        ]

    def second_call(self) -> list[dict[str, Any]]:
        answer = {"finish_reason": "stop", "index": 0, "message": {"content": ANSWER}}
        return [
            *self._history(self.second, 500),
            self._record(self.second, 500, "gen_ai.assistant.message", {"tool_calls": [CALL]}),
            self._record(
                self.second, 500, "gen_ai.tool.message", {"content": RESULT, "id": "call_1"}
            ),
            self._record(self.second, 800, "gen_ai.choice", answer),
        ]

    def logs(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self._export("resourceLogs", "scopeLogs", "logRecords", records)

    def _history(self, span: str, at: int) -> list[dict[str, Any]]:
        return [
            self._record(span, at, "gen_ai.system.message", {"content": SYSTEM}),
            self._record(span, at, "gen_ai.user.message", {"content": QUESTION}),
        ]

    def _record(self, span: str, at: int, event: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "timeUnixNano": str(START + at * MS),
            "severityNumber": 9,
            "body": any_value(body),
            "attributes": key_values({"event.name": event, "gen_ai.system": "openai"}),
            "traceId": self.trace,
            "spanId": span,
        }

    def _span(
        self, span: str, parent: str | None, name: str, start: int, end: int, attrs: Any
    ) -> dict[str, Any]:
        found: dict[str, Any] = {
            "traceId": self.trace,
            "spanId": span,
            "name": name,
            "kind": 3 if attrs else 1,
            "startTimeUnixNano": str(START + start * MS),
            "endTimeUnixNano": str(START + end * MS),
            "attributes": key_values(attrs),
            "status": {},
        }
        if parent:
            found["parentSpanId"] = parent
        return found

    @staticmethod
    def _chat(input_tokens: int, output_tokens: int) -> dict[str, Any]:
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.system": "openai",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
        }

    @staticmethod
    def _export(resources: str, scopes: str, items: str, found: list[Any]) -> dict[str, Any]:
        resource = {"attributes": key_values({"service.name": "weather-app"})}
        scope = {"scope": {"name": "@opentelemetry/instrumentation-openai"}, items: found}
        return {resources: [{"resource": resource, scopes: [scope]}]}


async def post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def conversation(gql: GraphQLClient, key: str) -> dict[str, Any]:
    found = await gql.data(CONVERSATION, {"id": await conversation_id(gql, key)})
    return dict(found["conversation"])


def shown(found: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [
        (m["role"], m["content"], m["parent"] and m["parent"]["content"])
        for m in found["messages"]["nodes"]
    ]


def assert_the_run(found: dict[str, Any]) -> None:
    assert shown(found) == EXPECTED
    messages = found["messages"]["nodes"]
    (call,) = messages[2]["toolCalls"]
    assert (call["callId"], call["toolName"], call["arguments"]) == (
        "call_1",
        "get_weather",
        {"city": "Paris"},
    )
    # No TOOL span: the tool message of the next model call closes it.
    assert (call["status"], call["result"]) == ("COMPLETED", RESULT)
    assert messages[4]["model"] == "gpt-4o-mini-2024-07-18"
    assert [m["senderId"] for m in messages] == ["system", "dev", *["weather-app"] * 3]
    (trace,) = found["traces"]["nodes"]
    assert found["totalTokens"] == trace["totalTokens"] == 152


async def test_records_after_their_spans(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    run = NodeRun("after", 1)
    await post(http, "/v1/traces", run.spans())
    assert (await conversation(gql, "after"))["messageCount"] == 0
    # Each call's records in an export of their own; the first sent twice by a retry.
    for records in (run.first_call(), run.first_call(), run.second_call()):
        assert await post(http, "/v1/logs", run.logs(records)) == {}
    assert_the_run(await conversation(gql, "after"))


async def test_records_before_their_spans(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    run = NodeRun("before", 2)
    assert await post(http, "/v1/logs", run.logs(run.first_call())) == {}
    # Held for their spans, in no conversation yet.
    found = await gql.data("{ conversations { totalCount } }")
    assert found["conversations"]["totalCount"] == 0
    assert await post(http, "/v1/logs", run.logs(run.second_call())) == {}
    await post(http, "/v1/traces", run.spans())
    assert_the_run(await conversation(gql, "before"))


async def test_records_on_both_sides_of_their_spans(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """The first call's records come before the spans, the second's after; the inputs
    of the second call in two exports."""
    run = NodeRun("between", 3)
    await post(http, "/v1/logs", run.logs(run.first_call()))
    await post(http, "/v1/traces", run.spans())
    second = run.second_call()
    for records in (second[:3], second[3:]):
        await post(http, "/v1/logs", run.logs(records))
    assert_the_run(await conversation(gql, "between"))


async def test_messages_on_the_span_and_in_records_are_stored_once(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    run = NodeRun("both", 4)
    spans = run.spans()
    chat = spans["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    messages = [
        {"role": "system", "parts": [{"type": "text", "content": SYSTEM}]},
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]},
    ]
    chat["attributes"] += key_values({"gen_ai.input.messages": json.dumps(messages)})
    await post(http, "/v1/traces", spans)
    await post(http, "/v1/logs", run.logs(run.first_call()))
    found = await conversation(gql, "both")
    # The span's inputs, and the answer only its records show.
    assert shown(found) == EXPECTED[:3]


async def test_the_operation_details_event(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    """The newer convention: one record per call, its messages in attributes as a span
    would carry them (here as structured values, which log attributes may be)."""
    run = NodeRun("details", 5)
    attributes = {
        "gen_ai.system_instructions": [{"type": "text", "content": SYSTEM}],
        "gen_ai.input.messages": [
            {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}
        ],
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]}]
        ),
    }
    record = {
        "timeUnixNano": str(START),
        "eventName": "gen_ai.client.inference.operation.details",
        "attributes": key_values(attributes),
        "traceId": run.trace,
        "spanId": run.first,
    }
    await post(http, "/v1/traces", run.spans())
    await post(http, "/v1/logs", run.logs([record]))
    found = await conversation(gql, "details")
    assert shown(found) == [
        ("SYSTEM", SYSTEM, None),
        ("USER", QUESTION, SYSTEM),
        ("ASSISTANT", ANSWER, QUESTION),
    ]


@pytest.fixture(scope="module")
async def base_url(app: Starlette) -> AsyncIterator[str]:
    async with served(app) as url:
        yield url.replace("ws://", "http://").removesuffix("/graphql")


def python_run(recorder: Recorder, memory: InMemoryLogRecordExporter) -> None:
    """An agent run as Python's openai-v2 instrumentation records it: a chat span per
    model call, its messages emitted as log records (event_name) in the span's context."""
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = logs.get_logger("opentelemetry.instrumentation.openai_v2")
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}

    def said(event: str, body: dict[str, Any]) -> None:
        logger.emit(LogRecord(event_name=event, body=body, attributes={"gen_ai.system": "openai"}))

    tracer = recorder.tracer
    agent = {"gen_ai.conversation.id": "python", "gen_ai.operation.name": "invoke_agent"}
    with tracer.start_as_current_span("invoke_agent weather-agent", attributes=agent):
        asks = {"role": "assistant", "tool_calls": [CALL]}
        for finish, answer in (("tool_calls", asks), ("stop", {"content": ANSWER})):
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes=chat):
                said("gen_ai.system.message", {"content": SYSTEM})
                said("gen_ai.user.message", {"content": QUESTION})
                if finish == "stop":
                    said("gen_ai.assistant.message", {"tool_calls": [CALL]})
                    said("gen_ai.tool.message", {"content": RESULT, "id": "call_1"})
                said("gen_ai.choice", {"index": 0, "finish_reason": finish, "message": answer})


async def test_the_python_sdk_exporters_protobuf_and_gzip(
    base_url: str, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    recorder, memory = Recorder(), InMemoryLogRecordExporter()
    python_run(recorder, memory)
    exporter = OTLPLogExporter(endpoint=f"{base_url}/v1/logs", compression=Compression.Gzip)
    try:
        sent = await asyncio.to_thread(exporter.export, memory.get_finished_logs())
    finally:
        exporter.shutdown()
    assert sent == LogRecordExportResult.SUCCESS
    spans = await export(base_url, recorder.take(), compression=Compression.Gzip)
    assert spans == SpanExportResult.SUCCESS
    found = await conversation(gql, "python")
    assert shown(found) == EXPECTED
    (call,) = found["messages"]["nodes"][2]["toolCalls"]
    assert (call["status"], call["result"]) == ("COMPLETED", RESULT)


async def test_refused_records_in_a_partial_success(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    run = NodeRun("partial", 6)
    records = run.first_call()
    orphan = {k: v for k, v in records[0].items() if k not in ("traceId", "spanId")}
    not_genai = {**records[0], "attributes": key_values({"event.name": "app.started"})}
    nul = {**records[1], "body": any_value({"content": "nul\u0000"})}
    answer = await post(http, "/v1/logs", run.logs([*records, orphan, not_genai, nul]))
    partial = answer["partialSuccess"]
    assert partial["rejectedLogRecords"] == "3"
    message = partial["errorMessage"]
    assert "traceId must be 16 bytes" in message
    assert "log record app.started of span" in message
    assert "not a GenAI message event" in message
    assert "NUL" in message
    await post(http, "/v1/traces", run.spans())
    assert shown(await conversation(gql, "partial")) == EXPECTED[:3]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"}, 400),
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b'{"resourceLogs": 5}', {"Content-Type": "application/json"}, 400),
        (b"", {"Content-Type": "text/plain"}, 415),
    ],
)
async def test_undecodable_bodies(
    http: httpx.AsyncClient, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = await http.post("/v1/logs", content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 400 and headers["Content-Type"] == "application/json":
        assert response.json()["message"].startswith("BAD_USER_INPUT: ")
        assert "ExportLogsServiceRequest" in response.json()["message"]


async def test_the_write_queue_is_shared(app: Starlette, settings: Settings) -> None:
    async with app_with(settings, ingest_queue_size=0) as client:
        response = await client.post(
            "/v1/logs", content=b"", headers={"Content-Type": "application/json"}
        )
    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")


async def test_with_authentication_records_need_the_ingest_scope(
    secured_http: httpx.AsyncClient,
) -> None:
    run = NodeRun("secured", 7)
    ada, bob = as_user(secured_http, "ada"), as_user(secured_http, "bob")
    writer, _ = await new_key(ada, ["READ", "WRITE"])
    ingester, _ = await new_key(ada, ["INGEST"])
    stranger, _ = await new_key(bob, ["INGEST"])
    spans = await secured_http.post("/v1/traces", json=run.spans(), headers={"X-API-Key": ingester})
    assert spans.status_code == 200, spans.text
    logs = run.logs(run.first_call())
    answers = [
        await secured_http.post("/v1/logs", json=logs, headers=headers)
        for headers in ({}, {"X-API-Key": writer}, {"X-API-Key": stranger})
    ]
    assert [a.status_code for a in answers] == [401, 403, 200]
    # bob's records name ada's span ids, which are not his spans': held for his own.
    assert (await conversation(ada, "secured"))["messageCount"] == 0
    answer = await secured_http.post("/v1/logs", json=logs, headers={"X-API-Key": ingester})
    assert answer.status_code == 200, answer.text
    assert shown(await conversation(ada, "secured")) == EXPECTED[:3]


async def test_applying_records_publishes_the_mutations_events(
    http: httpx.AsyncClient, ws: GraphQLWebSocket
) -> None:
    run = NodeRun("live", 8)
    await post(http, "/v1/traces", run.spans())
    raw = from_global_id(await conversation_id(GraphQLClient(http), "live"))[1]
    latest = await GraphQLClient(http).data(
        "query($id: ID!) { conversation(id: $id) { lastEventCursor } }",
        {"id": to_global_id("Conversation", raw)},
    )
    query = """subscription($c: ID!, $a: String) {
      conversationEvents(conversationId: $c, after: $a) { kind } }"""
    op = await ws.subscribe(
        query,
        {"c": to_global_id("Conversation", raw), "a": latest["conversation"]["lastEventCursor"]},
    )
    await post(http, "/v1/logs", run.logs([*run.first_call(), *run.second_call()]))
    kinds = [e["conversationEvents"]["kind"] for e in await ws.collect(op, 8)]
    # The agent speaks now: it joins. Its call closes once its result is known.
    assert Counter(kinds) == {
        "PARTICIPANT_JOINED": 1,
        "MESSAGE_CREATED": 5,
        "TOOL_START": 1,
        "TOOL_END": 1,
    }
    await ws.nothing_more(op)


async def test_statements_do_not_grow_with_records(
    http: httpx.AsyncClient, sql: StatementCounter
) -> None:
    async def statements(number: int, users: int, stored: bool) -> int:
        run = NodeRun(f"count-{number}", number)
        if stored:
            await post(http, "/v1/traces", run.spans())
        # Records without content (the instrumentation's default) show no message: the
        # messages, and their events, are the same however many records there are.
        records = run.first_call()
        unsaid = {**records[1], "body": any_value({})}
        sql.reset()
        await post(http, "/v1/logs", run.logs([*records, *[unsaid] * users]))
        return sql.count

    await statements(10, 1, stored=False)  # the owner's namespace, read once
    assert await statements(11, 2, stored=False) == await statements(12, 40, stored=False)
    assert await statements(13, 2, stored=True) == await statements(14, 40, stored=True)


async def test_records_whose_span_never_comes_are_swept(
    http: httpx.AsyncClient, app: Starlette, settings: Settings
) -> None:
    table: Any = PendingLogRecord.__table__  # type: ignore[attr-defined]
    for number in (20, 21):
        run = NodeRun(f"never-{number}", number)
        await post(http, "/v1/logs", run.logs(run.first_call()))
        if number == 20:
            async with app.state.engine.begin() as connection:
                await connection.execute(
                    update(table).values(received_at=utcnow() - timedelta(days=2))
                )
    report = await sweep(Context.create(app.state.database, settings, app.state.bus))
    assert report.deleted["otlp_log_records"] == 1
    async with app.state.engine.begin() as connection:
        left = (await connection.execute(table.select())).all()
    assert len(left) == 1


async def blocked(connection: AsyncConnection) -> None:
    """Return once a statement waits for a lock; fail after five seconds."""
    waiting = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    for _ in range(500):
        if (await connection.execute(waiting)).scalar_one():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("nothing waited for a lock")


@pytest.mark.postgres_only
async def test_records_and_spans_committing_at_once(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """The spans' export looked for held records and is not committed yet when the
    records' export looks for their span: the records wait for the spans to commit
    (else each would miss the other, and the records wait for ever)."""
    first, second = NodeRun("race", 30), NodeRun("race", 31)
    await post(http, "/v1/traces", first.spans())
    home = from_global_id(await conversation_id(gql, "race"))[1]
    namespace = await owner_namespace(app.state.database, "dev")
    table: Any = Trace.__table__  # type: ignore[attr-defined]
    async with app.state.engine.connect() as blocker:
        await blocker.begin()
        # The second trace's row, uncommitted: the spans' export waits for it to go.
        await blocker.execute(
            insert(table).values(
                id=trace_row(namespace, second.trace),
                conversation_id=home,
                name="blocker",
                started_at=utcnow(),
            )
        )
        spans = asyncio.create_task(post(http, "/v1/traces", second.spans()))
        await blocked(blocker)
        records = second.logs([*second.first_call(), *second.second_call()])
        logs = asyncio.create_task(post(http, "/v1/logs", records))
        await asyncio.sleep(0.5)
        await blocker.rollback()
    await asyncio.gather(spans, logs)
    assert shown(await conversation(gql, "race")) == EXPECTED
