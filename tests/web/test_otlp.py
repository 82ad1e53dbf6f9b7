"""POST /v1/traces with what the OpenTelemetry SDK's OTLP/HTTP exporter really sends."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from starlette.applications import Starlette

from bench.otel_runs import (
    ANSWER,
    QUESTION,
    RESULT,
    Recorder,
    protobuf_body,
    run_genai,
    run_openinference,
)
from config import Settings
from resolvers.ids import from_global_id, to_global_id
from resolvers.ingest.ids import NAMESPACE, conversation_row, owner_namespace
from subscriptions.streams import encode_cursor
from tests.conftest import served
from tests.graphql_client import GraphQLClient
from tests.identities import as_user, new_key
from tests.web.conftest import app_with
from tests.ws_client import GraphQLWebSocket

PROTOBUF = {"Content-Type": "application/x-protobuf"}
CONVERSATION = """query($id: ID!) { conversation(id: $id) {
  ownerId totalTokens messageCount
  participants { participantId participantType role }
  messages(first: 20) { nodes {
    role content senderId model inputTokens outputTokens parent { content }
    toolCalls { callId toolName arguments result status error span { name kind } }
  } }
  traces { nodes {
    status totalTokens name
    rootSpans { kind name status children { kind name model inputTokens outputTokens status } }
  } }
} }"""


async def conversation_id(reader: GraphQLClient, key: str) -> str:
    """The id of the conversation ingestion made for `key` (its title), as `reader` finds it."""
    found = await reader.data(
        "query($k: String!) {"
        " conversations(filter: {titleContains: $k}) { edges { node { id title } } } }",
        {"k": key},
    )
    [conversation_gid] = [
        e["node"]["id"] for e in found["conversations"]["edges"] if e["node"]["title"] == key
    ]
    return str(conversation_gid)


@pytest.fixture(scope="module")
async def base_url(app: Starlette) -> AsyncIterator[str]:
    async with served(app) as url:
        yield url.replace("ws://", "http://").removesuffix("/graphql")


async def export(url: str, spans: Sequence[ReadableSpan], **options: Any) -> SpanExportResult:
    """Through the SDK's own exporter (it blocks: it runs on a thread, the server here)."""
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", **options)
    try:
        return await asyncio.to_thread(exporter.export, spans)
    finally:
        exporter.shutdown()


async def test_a_genai_run_becomes_a_conversation(
    base_url: str, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    recorder = Recorder()
    run_genai(recorder.tracer, "weather-1")
    assert await export(base_url, recorder.take()) == SpanExportResult.SUCCESS
    found = (await gql.data(CONVERSATION, {"id": await conversation_id(gql, "weather-1")}))[
        "conversation"
    ]
    assert (found["ownerId"], found["messageCount"], found["totalTokens"]) == ("dev", 4, 152)
    messages = found["messages"]["nodes"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("USER", QUESTION),
        ("ASSISTANT", ""),
        ("TOOL", RESULT),
        ("ASSISTANT", ANSWER),
    ]
    assert [m["parent"] and m["parent"]["content"] for m in messages] == [
        None,
        QUESTION,
        "",
        RESULT,
    ]
    assert (messages[3]["model"], messages[3]["inputTokens"], messages[3]["outputTokens"]) == (
        "gpt-4o",
        80,
        12,
    )
    (call,) = messages[1]["toolCalls"]
    assert call == {
        "callId": "call_1",
        "toolName": "get_weather",
        "arguments": {"city": "Paris"},
        "result": RESULT,
        "status": "COMPLETED",
        "error": None,
        "span": {"name": "execute_tool get_weather", "kind": "TOOL"},
    }
    (trace,) = found["traces"]["nodes"]
    assert (trace["status"], trace["totalTokens"]) == ("OK", 152)
    (root,) = trace["rootSpans"]
    assert (root["kind"], root["name"]) == ("AGENT", "invoke_agent weather-agent")
    assert [(c["kind"], c["model"], c["inputTokens"]) for c in root["children"]] == [
        ("LLM", "gpt-4o", 50),
        ("TOOL", None, 0),
        ("LLM", "gpt-4o", 80),
    ]


async def test_an_openinference_run_gzipped(base_url: str, gql: GraphQLClient) -> None:
    recorder = Recorder()
    run_openinference(recorder.tracer, "session-7")
    result = await export(base_url, recorder.take(), compression=Compression.Gzip)
    assert result == SpanExportResult.SUCCESS
    found = (await gql.data(CONVERSATION, {"id": await conversation_id(gql, "session-7")}))[
        "conversation"
    ]
    messages = found["messages"]["nodes"]
    assert [(m["role"], m["content"], m["senderId"]) for m in messages] == [
        ("USER", QUESTION, "ada"),
        ("ASSISTANT", "", "weather-agent"),
        ("TOOL", RESULT, "weather-agent"),
        ("ASSISTANT", ANSWER, "weather-agent"),
    ]
    (call,) = messages[1]["toolCalls"]
    # OpenInference's tool span names no call id: it runs the open call of its tool.
    assert (call["status"], call["result"], call["span"]["kind"]) == ("COMPLETED", RESULT, "TOOL")
    (trace,) = found["traces"]["nodes"]
    assert (trace["status"], trace["totalTokens"]) == ("OK", 152)
    assert [c["kind"] for c in trace["rootSpans"][0]["children"]] == ["LLM", "TOOL", "LLM"]


async def test_a_failed_tool_fails_its_call(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    recorder = Recorder()
    run_genai(recorder.tracer, "broken", fail_tool=True)
    response = await http.post(
        "/v1/traces", content=protobuf_body(recorder.take()), headers=PROTOBUF
    )
    assert response.status_code == 200, response.text
    found = (await gql.data(CONVERSATION, {"id": await conversation_id(gql, "broken")}))[
        "conversation"
    ]
    call = found["messages"]["nodes"][1]["toolCalls"][0]
    assert (call["status"], call["error"]) == ("FAILED", "weather service down")


SEARCH = """query($q: String!) { search(query: $q) { edges { node {
  message { content } conversation { id } } } } }"""


async def test_ingested_messages_are_searchable(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """Ingestion writes with COPY on PostgreSQL: the search index is kept all the same."""
    recorder = Recorder()
    run_genai(recorder.tracer, "searched")
    response = await http.post(
        "/v1/traces", content=protobuf_body(recorder.take()), headers=PROTOBUF
    )
    assert response.status_code == 200, response.text
    edges = (await gql.data(SEARCH, {"q": "sunny"}))["search"]["edges"]
    # The tool's result and the answer both say it.
    found = {edge["node"]["message"]["content"] for edge in edges}
    assert found == {RESULT, ANSWER}
    assert {edge["node"]["conversation"]["id"] for edge in edges} == {
        await conversation_id(gql, "searched")
    }


async def test_spans_sent_again_are_stored_once(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    recorder = Recorder()
    run_genai(recorder.tracer, "twice")
    body = protobuf_body(recorder.take())
    for _ in range(2):
        response = await http.post("/v1/traces", content=body, headers=PROTOBUF)
        assert response.status_code == 200, response.text
    found = (await gql.data(CONVERSATION, {"id": await conversation_id(gql, "twice")}))[
        "conversation"
    ]
    assert (found["messageCount"], found["totalTokens"]) == (4, 152)
    assert len(found["traces"]["nodes"][0]["rootSpans"][0]["children"]) == 3


async def test_children_before_their_parent(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    recorder = Recorder()
    run_genai(recorder.tracer, "late-root")
    spans = recorder.take()
    children, root = [s for s in spans if s.parent], [s for s in spans if not s.parent]
    for part in ([children[2]], children[:2]):
        response = await http.post("/v1/traces", content=protobuf_body(part), headers=PROTOBUF)
        assert response.status_code == 200, response.text
    found = (await gql.data(CONVERSATION, {"id": await conversation_id(gql, "late-root")}))[
        "conversation"
    ]
    (trace,) = found["traces"]["nodes"]
    # Until the root arrives its children stand alone, and the trace runs.
    assert (trace["status"], len(trace["rootSpans"]), trace["totalTokens"]) == ("RUNNING", 3, 152)
    response = await http.post("/v1/traces", content=protobuf_body(root), headers=PROTOBUF)
    assert response.status_code == 200, response.text
    found = (await gql.data(CONVERSATION, {"id": await conversation_id(gql, "late-root")}))[
        "conversation"
    ]
    (trace,) = found["traces"]["nodes"]
    assert (trace["status"], trace["name"], trace["totalTokens"]) == (
        "OK",
        "invoke_agent weather-agent",
        152,
    )
    (root_span,) = trace["rootSpans"]
    assert [c["kind"] for c in root_span["children"]] == ["LLM", "TOOL", "LLM"]
    assert found["messageCount"] == 4


def json_body(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """OTLP JSON: protobuf's JSON mapping, except for ids, which are hex."""
    body = json_format.MessageToDict(encode_spans(spans))
    for resource in body["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = __import__("base64").b64decode(span[key]).hex()
    return body


async def test_json_with_hex_ids_and_a_partial_success(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    recorder = Recorder()
    run_genai(recorder.tracer, "as-json")
    body = json_body(recorder.take())
    spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append({**spans[0], "spanId": "0000000000000000"})
    spans.append({**spans[0], "spanId": "00000000000000aa", "name": "nul\u0000"})
    response = await http.post("/v1/traces", json=body)
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "spanId must be 8 bytes" in partial["errorMessage"]
    assert "NUL" in partial["errorMessage"]
    found = (await gql.data(CONVERSATION, {"id": await conversation_id(gql, "as-json")}))[
        "conversation"
    ]
    assert found["messageCount"] == 4


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xff\xff", PROTOBUF, 400),
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b'{"resourceSpans": 5}', {"Content-Type": "application/json"}, 400),
        (b"\x1f\x8b garbage", {**PROTOBUF, "Content-Encoding": "gzip"}, 400),
        (b"", {"Content-Type": "text/plain"}, 415),
    ],
)
async def test_undecodable_bodies(
    http: httpx.AsyncClient, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = await http.post("/v1/traces", content=body, headers=headers)
    assert response.status_code == status, response.text


async def test_errors_are_statuses_with_a_code(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/traces", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == 3
    assert response.json()["message"].startswith("BAD_USER_INPUT: ")


async def test_oversized_bodies(app: Starlette, settings: Settings) -> None:
    recorder = Recorder()
    run_genai(recorder.tracer, "big")
    body = protobuf_body(recorder.take())
    async with app_with(settings, otlp_max_body_bytes=len(body) - 1) as client:
        plain = await client.post("/v1/traces", content=body, headers=PROTOBUF)
        # Small once compressed, too large once inflated.
        bomb = gzip.compress(b"\n" * 10 * len(body))
        inflated = await client.post(
            "/v1/traces", content=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}
        )
    assert (plain.status_code, inflated.status_code) == (413, 413)


async def test_a_full_queue_asks_to_retry_later(app: Starlette, settings: Settings) -> None:
    async with app_with(settings, ingest_queue_size=0) as client:
        response = await client.post("/v1/traces", content=b"", headers=PROTOBUF)
    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")


async def test_ingestion_publishes_the_mutations_events(
    http: httpx.AsyncClient, ws: GraphQLWebSocket
) -> None:
    recorder = Recorder()
    run_genai(recorder.tracer, "live")
    response = await http.post(
        "/v1/traces", content=protobuf_body(recorder.take()), headers=PROTOBUF
    )
    assert response.status_code == 200
    raw = from_global_id(await conversation_id(GraphQLClient(http), "live"))[1]
    query = """subscription($c: ID!, $a: String) {
      conversationEvents(conversationId: $c, after: $a) { kind } }"""
    op = await ws.subscribe(
        query, {"c": to_global_id("Conversation", raw), "a": encode_cursor(raw, 0)}
    )
    kinds = [e["conversationEvents"]["kind"] for e in await ws.collect(op, 17)]
    assert kinds == [
        "CONVERSATION_CREATED",
        "TRACE_STARTED",
        # The agent that answers (the service, as the run names none) is among the
        # participants the conversation was created with: no PARTICIPANT_JOINED.
        *["SPAN_STARTED", "SPAN_ENDED"] * 4,
        *["MESSAGE_CREATED"] * 4,
        "TOOL_START",
        "TOOL_END",
        "TRACE_ENDED",
    ]
    await ws.nothing_more(op)


async def test_with_authentication_ingest_needs_the_ingest_scope(
    secured_app: Starlette, secured_http: httpx.AsyncClient
) -> None:
    recorder = Recorder()
    run_genai(recorder.tracer, "secured")
    body = protobuf_body(recorder.take())
    ada = as_user(secured_http, "ada")
    writer, _ = await new_key(ada, ["READ", "WRITE"])
    ingester, _ = await new_key(ada, ["INGEST"], agent_id="weather-bot")
    answers = [
        await secured_http.post("/v1/traces", content=body, headers={**PROTOBUF, **headers})
        for headers in ({}, {"X-API-Key": writer}, {"X-API-Key": ingester})
    ]
    assert [a.status_code for a in answers] == [401, 403, 200]
    found = await ada.data(CONVERSATION, {"id": await conversation_id(ada, "secured")})
    conversation = found["conversation"]
    assert conversation["ownerId"] == "ada"
    assert {(p["participantId"], p["role"]) for p in conversation["participants"]} == {
        ("ada", "OWNER"),
        ("weather-bot", "MEMBER"),
    }
    assert conversation["messages"]["nodes"][3]["senderId"] == "weather-bot"
    # Somebody else neither sees it nor learns it exists.
    bob = as_user(secured_http, "bob")
    assert (await bob.data(CONVERSATION, {"id": await conversation_id(ada, "secured")}))[
        "conversation"
    ] is None


async def test_nobody_takes_a_users_telemetry_ids_first(secured_http: httpx.AsyncClient) -> None:
    """carol knows ada's user id and the session her agent will send: the conversation
    id that derives from them alone is no use to her, as the installation's secret keys
    the real one; ada's telemetry lands, and carol's conversation stays hers."""
    ada, carol = as_user(secured_http, "ada"), as_user(secured_http, "carol")
    create = """mutation($id: ID!) {
      createConversation(input: {id: $id, owner: {participantId: "carol"}}) { id } }"""
    # The namespace as it was derived before (from ada's id alone), and guesses at a key.
    for namespace in (uuid.uuid5(NAMESPACE, "ada"), owner_namespace("", "ada")):
        guessed = conversation_row(namespace, "chat-1", "")
        await carol.data(create, {"id": str(guessed)})
    recorder = Recorder()
    run_genai(recorder.tracer, "chat-1")
    ingester, _ = await new_key(ada, ["INGEST"])
    answer = await secured_http.post(
        "/v1/traces",
        content=protobuf_body(recorder.take()),
        headers={**PROTOBUF, "X-API-Key": ingester},
    )
    assert answer.status_code == 200, answer.text
    found = await ada.data(CONVERSATION, {"id": await conversation_id(ada, "chat-1")})
    assert found["conversation"]["messageCount"] == 4


def test_ids_are_derived_per_owner_and_installation() -> None:
    ada, bob = owner_namespace("s1", "ada"), owner_namespace("s1", "bob")
    assert conversation_row(ada, "k", "") != conversation_row(bob, "k", "")
    # Without the installation's secret, nobody can tell ada's ids in advance.
    assert conversation_row(ada, "k", "") != conversation_row(owner_namespace("s2", "ada"), "k", "")
    assert isinstance(conversation_row(ada, None, "ab"), uuid.UUID)
    assert json.dumps(replace(Settings(), ingest_queue_size=3).ingest_queue_size) == "3"
