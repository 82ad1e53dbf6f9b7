"""JSON values are bounded where they come in, and what was stored before still goes out.

A value nested a few hundred levels was stored, then made conversationExport and
conversationMarkdown fail for everyone (pydantic serialises 255 levels at most), and
registerComponentVersion fail as a server fault (a recursive helper). Now every JSON
input deeper than MAX_JSON_DEPTH or larger than MAX_JSON_BYTES is refused before
anything is written, wherever it is written in a request; OTLP refuses the span that
holds one (or a JSON-encoded attribute no database can store); and values stored
deeper before are exported cut at the limit.

Deep values are sent as JSON text built by hand: encoding them with json.dumps would
depend on how deep the test's own stack is.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from sqlalchemy import update
from starlette.applications import Starlette

from config import Settings
from models import Message, ToolCall
from resolvers.json_limits import deeper_than
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.web.conftest import app_with
from tests.web.test_otlp import conversation_id

LIMIT = 64  # MAX_JSON_DEPTH by default, as the test apps have it
MARKER = f"[truncated: nested deeper than {LIMIT} levels]"
SEND = """mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { id metadata }
}"""
COUNT = "query($c: ID!) { conversation(id: $c) { messageCount } }"
REGISTER = factories.mutation_document("registerComponentVersion", "id")
COMPONENTS = "{ components { nodes { key } } }"
EXPORT = "query($c: ID!) { conversationExport(id: $c) }"
MARKDOWN = "query($c: ID!) { conversationMarkdown(id: $c) }"
IMPORT = "mutation($d: JSON!) { importConversation(document: $d, remapIds: true) { id } }"
CONVERSATION = "query($c: ID!) { conversation(id: $c) { id } }"
READ_METADATA = "query($c: ID!) { conversation(id: $c) { messages { nodes { metadata } } } }"


def nested(levels: int) -> str:
    """JSON text of objects nested `levels` deep: {"a": {"a": ... 1}}."""
    return '{"a":' * levels + "1" + "}" * levels


def nested_value(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def innermost(value: Any) -> tuple[int, Any]:
    """How many objects down the chain of "a" keys goes, and what it ends with."""
    levels = 0
    while isinstance(value, dict):
        value, levels = value["a"], levels + 1
    return levels, value


async def post(http: httpx.AsyncClient, query: str, variables: str) -> dict[str, Any]:
    """A GraphQL request whose variables are given as JSON text."""
    body = f'{{"query": {json.dumps(query)}, "variables": {variables}}}'
    response = await http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    error: dict[str, Any] = errors[0]
    return error


async def send_with_metadata(http: httpx.AsyncClient, conversation: str, metadata: str) -> Any:
    message = (
        f'{{"conversationId": "{conversation}", "senderId": "user-1", "metadata": {metadata}}}'
    )
    return await post(http, SEND, f'{{"input": {message}}}')


async def message_count(gql: GraphQLClient, conversation: str) -> int:
    count: int = (await gql.data(COUNT, {"c": conversation}))["conversation"]["messageCount"]
    return count


async def test_deep_message_metadata_is_refused_and_nothing_written(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    error = only_error(await send_with_metadata(http, conversation, nested(400)))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == (
        f"`$input.metadata` is nested deeper than the limit of {LIMIT} levels"
    )
    assert await message_count(gql, conversation) == 0


async def test_deep_component_definition_is_refused(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    payload = f'{{"componentKey": "deep", "type": "PROMPT", "definition": {nested(900)}}}'
    error = only_error(await post(http, REGISTER, f'{{"input": {payload}}}'))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "`$input.definition` is nested deeper" in error["message"]
    assert (await gql.data(COMPONENTS))["components"]["nodes"] == []


async def test_depth_limit_boundary(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    accepted = await send_with_metadata(http, conversation, nested(LIMIT))
    assert innermost(accepted["data"]["sendMessage"]["metadata"]) == (LIMIT, 1)
    refused = only_error(await send_with_metadata(http, conversation, nested(LIMIT + 1)))
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert await message_count(gql, conversation) == 1


async def test_oversized_json_is_refused(app: Starlette, settings: Settings) -> None:
    async with app_with(settings, max_json_bytes=1000) as http:
        gql = GraphQLClient(http)
        conversation = (await factories.conversation(gql))["id"]
        # {"text":"xx..."} is 11 bytes more than its text.
        fits = json.dumps({"text": "x" * 989})
        assert "errors" not in await send_with_metadata(http, conversation, fits)
        too_large = json.dumps({"text": "x" * 990})
        error = only_error(await send_with_metadata(http, conversation, too_large))
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["message"] == (
            "`$input.metadata` is larger than the limit of 1,000 bytes as compact JSON (got 1,001)"
        )
        assert await message_count(gql, conversation) == 1


@pytest.mark.parametrize(
    ("declared", "metadata", "variables"),
    [
        ("", nested(LIMIT + 1).replace('"a"', "a"), "{}"),
        ("($run: JSON)", "{run: $run}", f'{{"run": {nested(LIMIT)}}}'),
    ],
    ids=["literal", "variable-inside-a-literal"],
)
async def test_json_written_in_the_document_is_bounded_too(
    http: httpx.AsyncClient, gql: GraphQLClient, declared: str, metadata: str, variables: str
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    query = f"""mutation{declared} {{ sendMessage(input: {{
      conversationId: "{conversation}", senderId: "user-1", metadata: {metadata}
    }}) {{ id }} }}"""
    error = only_error(await post(http, query, variables))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("`metadata` is nested deeper")
    assert await message_count(gql, conversation) == 0


async def store_deep_values(app: Starlette, levels: int) -> None:
    """Write as data stored before the limit existed would be: past the guard."""
    async with app.state.engine.begin() as connection:
        await connection.execute(update(Message).values(meta=nested_value(levels)))
        await connection.execute(update(ToolCall).values(arguments=nested_value(levels)))


async def test_values_stored_deeper_before_still_export(app: Starlette, gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    call = {"callId": "c1", "toolName": "lookup", "arguments": {}}
    await factories.message(gql, conversation, toolCalls=[call])
    await store_deep_values(app, 400)

    document = (await gql.data(EXPORT, {"c": conversation}))["conversationExport"]
    tables = document["tables"]
    for value in (tables["messages"][0]["meta"], tables["tool_calls"][0]["arguments"]):
        assert innermost(value) == (LIMIT, MARKER)
    markdown = (await gql.data(MARKDOWN, {"c": conversation}))["conversationMarkdown"]
    assert MARKER in markdown
    # Reads give the value as stored; the export, cut at the limit, imports again.
    read = (await gql.data(READ_METADATA, {"c": conversation}))["conversation"]
    assert innermost(read["messages"]["nodes"][0]["metadata"]) == (400, 1)
    assert (await gql.data(IMPORT, {"d": document}))["importConversation"]["id"]


async def test_an_import_checks_each_stored_value(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    await factories.message(gql, conversation, metadata=nested_value(LIMIT))
    document = (await gql.data(EXPORT, {"c": conversation}))["conversationExport"]
    # The document nests deeper than the limit; each value in it does not.
    assert deeper_than(document, LIMIT)
    assert (await gql.data(IMPORT, {"d": document}))["importConversation"]["id"]
    document["tables"]["messages"][0]["meta"] = {"deeper": nested_value(LIMIT)}
    error = await gql.error(IMPORT, {"d": document})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("`$d.tables.messages[0].meta` is nested deeper")


# --- OTLP ---------------------------------------------------------------------------

TRACE_ID = bytes(range(1, 17))
START = 1_700_000_000_000_000_000
PROTOBUF = "application/x-protobuf"


def any_value(target: AnyValue, value: Any) -> None:
    """`value` written into an OTLP AnyValue: objects as kvlists."""
    if isinstance(value, dict):
        for key, item in value.items():
            any_value(target.kvlist_value.values.add(key=key).value, item)
    elif isinstance(value, int):
        target.int_value = value
    else:
        target.string_value = value


def export_request(*spans: dict[str, Any]) -> ExportTraceServiceRequest:
    """One trace, a span for each dict of attributes."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for number, attributes in enumerate(spans, start=1):
        span = scope.spans.add(
            trace_id=TRACE_ID,
            span_id=number.to_bytes(8, "big"),
            name=f"span {number}",
            start_time_unix_nano=START,
            end_time_unix_nano=START + 1000,
        )
        for key, value in attributes.items():
            any_value(span.attributes.add(key=key).value, value)
    return request


def tool_span(arguments: str) -> dict[str, Any]:
    return {
        "gen_ai.conversation.id": "deep",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.tool.call.arguments": arguments,
    }


def rejected(response: httpx.Response) -> tuple[int, str]:
    """The spans an OTLP answer says were refused, and why."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"] == PROTOBUF:
        partial = ExportTraceServiceResponse.FromString(response.content).partial_success
        return partial.rejected_spans, partial.error_message
    found = response.json().get("partialSuccess", {})
    return int(found.get("rejectedSpans", 0)), found.get("errorMessage", "")


async def test_otlp_json_encoded_attributes_nested_deep_refuse_their_span(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    request = export_request(
        {"gen_ai.conversation.id": "fine", "gen_ai.operation.name": "chat"},
        # Past Python's recursion limit (it failed the whole request), and within it.
        tool_span("[" * 5000 + "]" * 5000),
        tool_span(nested(LIMIT + 1)),
    )
    response = await http.post(
        "/v1/traces", content=request.SerializeToString(), headers={"Content-Type": PROTOBUF}
    )
    count, reasons = rejected(response)
    assert count == 2
    assert reasons.count("a JSON-encoded attribute is nested deeper than the limit") == 2
    fine = (await gql.data(CONVERSATION, {"c": await conversation_id(gql, "fine")}))["conversation"]
    assert fine is not None


@pytest.mark.parametrize("content_type", [PROTOBUF, "application/json"])
async def test_otlp_attributes_past_the_limits_refuse_their_span(
    app: Starlette, settings: Settings, content_type: str
) -> None:
    # Protobuf decoding stops nesting at about 30 levels: below the default limit.
    request = export_request(
        {"shallow": nested_value(3)}, {"deep": nested_value(5)}, {"large": "x" * 2000}
    )
    if content_type == PROTOBUF:
        body = request.SerializeToString()
    else:
        body = json.dumps(json_format.MessageToDict(request)).encode()
    async with app_with(settings, max_json_depth=5, max_json_bytes=1000) as http:
        response = await http.post(
            "/v1/traces", content=body, headers={"Content-Type": content_type}
        )
    count, reasons = rejected(response)
    assert count == 2
    assert "`span 0000000000000002.attributes` is nested deeper than the limit of 5" in reasons
    assert "`span 0000000000000003.attributes` is larger than the limit of 1,000" in reasons


@pytest.mark.parametrize("value", ["NaN", '"\\u0000"'], ids=["nan", "nul"])
async def test_otlp_json_encoded_attributes_no_database_can_store_refuse_their_span(
    http: httpx.AsyncClient, value: str
) -> None:
    # Decoded, they were stored as a tool call's arguments: PostgreSQL refused the batch.
    call = {"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"a": "?"}}
    output = json.dumps([{"role": "assistant", "parts": [call]}]).replace('"?"', value)
    request = export_request(
        {
            "gen_ai.conversation.id": "unstorable",
            "gen_ai.operation.name": "chat",
            "gen_ai.output.messages": output,
        }
    )
    response = await http.post(
        "/v1/traces", content=request.SerializeToString(), headers={"Content-Type": PROTOBUF}
    )
    count, reasons = rejected(response)
    assert count == 1
    assert "`a JSON-encoded attribute[0].parts[0].arguments.a`" in reasons
