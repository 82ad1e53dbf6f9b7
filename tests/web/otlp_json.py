"""Hand-built OTLP/JSON trace exports, shaped as instrumentation libraries write spans.

Spans carry what OpenInference (flattened llm.input_messages.*), the GenAI conventions
(gen_ai.input.messages JSON), pydantic-ai and LangChain put in them; posted to
/v1/traces, then read back through GraphQL.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from resolvers.ids import from_global_id
from subscriptions.streams import encode_cursor
from tests.graphql_client import GraphQLClient
from tests.ws_client import GraphQLWebSocket

# 2023-11-14T22:13:20Z, in nanoseconds; span times are milliseconds after it.
T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def value(raw: Any) -> dict[str, Any]:
    """An OTLP AnyValue."""
    if isinstance(raw, bool):
        return {"boolValue": raw}
    if isinstance(raw, int):
        return {"intValue": str(raw)}
    if isinstance(raw, float):
        return {"doubleValue": raw}
    return {"stringValue": raw}


def span(
    trace: int,
    number: int,
    name: str,
    attributes: dict[str, Any],
    *,
    parent: int | None = None,
    start: int = 0,
    end: int | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """Span `number` of trace `trace` (ids derived from both), from `start` to `end` ms."""
    found: dict[str, Any] = {
        "traceId": f"{trace:032x}",
        "spanId": f"{trace:08x}{number:08x}",
        "name": name,
        "startTimeUnixNano": str(T0 + start * MS),
        "endTimeUnixNano": str(T0 + (start + 100 if end is None else end) * MS),
        "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
    }
    if parent is not None:
        found["parentSpanId"] = f"{trace:08x}{parent:08x}"
    if error is not None:
        found["status"] = {"code": 2, "message": error}
    return found


def export(*spans: dict[str, Any], service: str = "support-bot") -> dict[str, Any]:
    resource = {"attributes": [{"key": "service.name", "value": value(service)}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": list(spans)}]}]}


async def post(http: httpx.AsyncClient, *spans: dict[str, Any], **options: Any) -> None:
    response = await http.post("/v1/traces", json=export(*spans, **options))
    assert response.status_code == 200, response.text
    assert "partialSuccess" not in response.json(), response.text


def genai(*messages: tuple[str, list[dict[str, Any]]]) -> str:
    """gen_ai.input.messages / gen_ai.output.messages: [{role, parts}], JSON-encoded."""
    return json.dumps([{"role": role, "parts": parts} for role, parts in messages])


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def flat(direction: str, *messages: dict[str, Any]) -> dict[str, Any]:
    """OpenInference's flattened messages: llm.<direction>_messages.N.message.<field>."""
    found = {}
    for index, fields in enumerate(messages):
        for name, item in fields.items():
            found[f"llm.{direction}_messages.{index}.message.{name}"] = item
    return found


def flat_call(index: int, call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    prefix = f"tool_calls.{index}.tool_call"
    return {
        f"{prefix}.id": call_id,
        f"{prefix}.function.name": name,
        f"{prefix}.function.arguments": json.dumps(arguments),
    }


CONVERSATION = """query($id: ID!) { conversation(id: $id) {
  messageCount
  participants { participantId participantType role }
  messages(first: 50) { nodes {
    role content senderId senderType parent { content }
    toolCalls { callId toolName arguments result status error startedAt endedAt span { name } }
  } }
} }"""


async def conversation(gql: GraphQLClient, key: str) -> dict[str, Any]:
    """The conversation ingestion made for `key` (its title)."""
    found = await gql.data(
        "query($k: String!) {"
        " conversations(filter: {titleContains: $k}) { edges { node { id title } } } }",
        {"k": key},
    )
    [gid] = [e["node"]["id"] for e in found["conversations"]["edges"] if e["node"]["title"] == key]
    read: dict[str, Any] = (await gql.data(CONVERSATION, {"id": gid}))["conversation"]
    read["id"] = gid
    return read


def at(ms: int) -> datetime:
    """The instant `ms` after T0."""
    return datetime.fromtimestamp(T0 / 1e9, UTC) + timedelta(milliseconds=ms)


def when(shown: str | None) -> datetime | None:
    """A DateTime as GraphQL shows it."""
    return None if shown is None else datetime.fromisoformat(shown)


EVENTS = """subscription($c: ID!, $a: String) {
  conversationEvents(conversationId: $c, after: $a) { kind } }"""


async def event_kinds(gql: GraphQLClient, ws: GraphQLWebSocket, gid: str) -> list[str]:
    """Every event of the conversation so far, replayed from its first."""
    read = await gql.data(
        "query($id: ID!) { conversation(id: $id) { lastEventCursor } }", {"id": gid}
    )
    last = base64.urlsafe_b64decode(read["conversation"]["lastEventCursor"]).decode()
    op = await ws.subscribe(EVENTS, {"c": gid, "a": encode_cursor(from_global_id(gid)[1], 0)})
    events = await ws.collect(op, int(last.rsplit(":", 1)[1]))
    await ws.nothing_more(op)
    await ws.stop(op)
    return [e["conversationEvents"]["kind"] for e in events]
