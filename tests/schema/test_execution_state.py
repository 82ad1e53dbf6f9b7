"""The state a run started from (traces) and saw (spans), and spans' structured errors,
through /graphql and OTLP ingestion."""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry.trace import Status, StatusCode
from sqlalchemy import text
from starlette.applications import Starlette

from bench.otel_runs import Recorder, protobuf_body
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user

STATE = "userInput finalOutput initialMemoryState initialConversationState systemConfig"
SPAN_STATE = "memorySnapshot conversationContext"
ERROR = "status error errorDetails { type message stack retryable }"
MEMORY = {"facts": ["likes tea"], "turns": 3, "nested": {"deep": [1, {"x": None}]}}
CONVERSATION_STATE = {"messages": 4, "title": "tea"}
CONFIG = {"model": "gpt-4o", "temperature": 0.2, "tools": ["search"], "stream": True}
TRACE = "query($id: ID!) { trace(id: $id) { %s } }"
SPAN = "query($id: ID!) { span(id: $id) { %s } }"
INGEST = """mutation($batch: [IngestItem!]!) {
  ingest(batch: $batch) { ok id error { code message } } }"""


async def new_trace(gql: GraphQLClient, **input: Any) -> tuple[str, str]:
    conv = await factories.conversation(gql)
    return conv["id"], (await factories.trace(gql, conv["id"], **input))["id"]


async def read(gql: GraphQLClient, document: str, node_id: str, fields: str) -> Any:
    (found,) = (await gql.data(document % fields, {"id": node_id})).values()
    return found


async def nulls(app: Starlette, table: str, columns: tuple[str, ...]) -> int:
    """Rows of `table` holding SQL NULL (not JSON null) in every one of `columns`."""
    condition = " AND ".join(f"{c} IS NULL" for c in columns)
    async with app.state.engine.connect() as connection:
        found = await connection.execute(text(f"SELECT count(*) FROM {table} WHERE {condition}"))
        return int(found.scalar_one())


# --- Traces -------------------------------------------------------------------------


async def test_a_trace_keeps_the_state_its_run_started_from(gql: GraphQLClient) -> None:
    _, trace = await new_trace(
        gql,
        userInput="which tea?",
        initialMemoryState=MEMORY,
        initialConversationState=CONVERSATION_STATE,
        systemConfig=CONFIG,
    )
    await factories.mutate(gql, "endTrace", {"traceId": trace, "finalOutput": "green"})
    assert await read(gql, TRACE, trace, STATE) == {
        "userInput": "which tea?",
        "finalOutput": "green",
        "initialMemoryState": MEMORY,
        "initialConversationState": CONVERSATION_STATE,
        "systemConfig": CONFIG,
    }


async def test_state_not_given_is_null_and_stores_nothing(
    app: Starlette, gql: GraphQLClient
) -> None:
    _, trace = await new_trace(gql, systemConfig={})
    span = (await factories.span(gql, trace))["id"]
    await factories.end_span(gql, span)
    assert await read(gql, TRACE, trace, STATE) == {
        "userInput": None,
        "finalOutput": None,
        "initialMemoryState": None,
        "initialConversationState": None,
        # Given, even empty, is kept as given.
        "systemConfig": {},
    }
    assert await read(gql, SPAN, span, f"{SPAN_STATE} errorDetails {{ message }}") == {
        "memorySnapshot": None,
        "conversationContext": None,
        "errorDetails": None,
    }
    # SQL NULL, not the JSON value null: spans are millions of rows.
    assert await nulls(app, "traces", ("initial_memory_state", "initial_conversation_state")) == 1
    assert await nulls(app, "traces", ("system_config",)) == 0
    columns = ("memory_snapshot", "conversation_context", "error_details")
    assert await nulls(app, "spans", columns) == 1


# --- Spans --------------------------------------------------------------------------


async def test_a_span_keeps_the_memory_and_context_it_saw(gql: GraphQLClient) -> None:
    _, trace = await new_trace(gql)
    span = await factories.span(
        gql,
        trace,
        f"id {SPAN_STATE}",
        memorySnapshot={"facts": ["likes tea", "in Paris"]},
        conversationContext={"window": ["m1", "m2"], "tokens": 812},
    )
    assert span == {
        "id": span["id"],
        "memorySnapshot": {"facts": ["likes tea", "in Paris"]},
        "conversationContext": {"window": ["m1", "m2"], "tokens": 812},
    }
    assert await read(gql, SPAN, span["id"], SPAN_STATE) == {
        k: v for k, v in span.items() if k != "id"
    }


async def test_error_details_are_kept_and_error_reads_their_message(gql: GraphQLClient) -> None:
    _, trace = await new_trace(gql)
    span = (await factories.span(gql, trace))["id"]
    details = {
        "type": "TimeoutError",
        "message": "search timed out after 3 s",
        "stack": 'Traceback (most recent call last):\n  File "agent.py", line 3',
        "retryable": True,
    }
    ended = await factories.end_span(gql, span, ERROR, status="ERROR", errorDetails=details)
    assert ended == {"status": "ERROR", "error": details["message"], "errorDetails": details}
    assert await read(gql, SPAN, span, ERROR) == ended


async def test_only_a_message_is_needed_and_an_error_string_reads_as_one(
    gql: GraphQLClient,
) -> None:
    _, trace = await new_trace(gql)
    spans = [(await factories.span(gql, trace))["id"] for _ in range(3)]
    as_string = await factories.end_span(gql, spans[0], ERROR, status="ERROR", error="boom")
    only_message = await factories.end_span(
        gql, spans[1], ERROR, status="ERROR", errorDetails={"message": "bad"}
    )
    both = await factories.end_span(
        gql,
        spans[2],
        ERROR,
        status="ERROR",
        error="tool failed",
        errorDetails={"message": "HTTP 503 from the tool", "retryable": True},
    )
    bare = {"type": None, "stack": None, "retryable": None}
    assert as_string["errorDetails"] == {**bare, "message": "boom"}
    assert (only_message["error"], only_message["errorDetails"]) == (
        "bad",
        {**bare, "message": "bad"},
    )
    # Each as given.
    assert (both["error"], both["errorDetails"]) == (
        "tool failed",
        {**bare, "message": "HTTP 503 from the tool", "retryable": True},
    )


async def test_bulk_ingest_takes_the_same_fields(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    start = {"conversationId": conv, "systemConfig": CONFIG, "initialMemoryState": MEMORY}
    [trace] = (
        await gql.data(INGEST, {"batch": [{"clientEventId": "t", "trace": {"start": start}}]})
    )["ingest"]
    span_start = {"traceId": trace["id"], "name": "s", "memorySnapshot": {"k": 1}}
    [span] = (
        await gql.data(INGEST, {"batch": [{"clientEventId": "s", "span": {"start": span_start}}]})
    )["ingest"]
    span_end = {
        "spanId": span["id"],
        "status": "ERROR",
        "errorDetails": {"message": "m", "type": "E"},
    }
    [ended] = (
        await gql.data(INGEST, {"batch": [{"clientEventId": "e", "span": {"end": span_end}}]})
    )["ingest"]
    assert ended["ok"], ended
    found = await read(gql, TRACE, trace["id"], "systemConfig initialMemoryState")
    assert found == {"systemConfig": CONFIG, "initialMemoryState": MEMORY}
    assert await read(gql, SPAN, span["id"], f"memorySnapshot {ERROR}") == {
        "memorySnapshot": {"k": 1},
        "status": "ERROR",
        "error": "m",
        "errorDetails": {"type": "E", "message": "m", "stack": None, "retryable": None},
    }


# --- Bad input and other people's runs ----------------------------------------------


async def test_state_that_is_not_an_object_is_refused_and_nothing_is_written(
    gql: GraphQLClient,
) -> None:
    conv, trace = await new_trace(gql)
    for field, value in (
        ("initialMemoryState", [1, 2]),
        ("initialConversationState", "a string"),
        ("systemConfig", 3),
    ):
        document = factories.mutation_document("startTrace", "id")
        error = await gql.error(document, {"input": {"conversationId": conv, field: value}})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert field in error["message"]
    for field in ("memorySnapshot", "conversationContext"):
        document = factories.mutation_document("startSpan", "id")
        input = {"traceId": trace, "name": "s", field: [{"a": 1}]}
        error = await gql.error(document, {"input": input})
        assert (error["extensions"]["code"], field in error["message"]) == ("BAD_USER_INPUT", True)
    counts = "traces { totalCount nodes { spans { totalCount } } }"
    found = await gql.data(f"query($c: ID!) {{ conversation(id: $c) {{ {counts} }} }}", {"c": conv})
    traces = found["conversation"]["traces"]
    assert (traces["totalCount"], traces["nodes"][0]["spans"]["totalCount"]) == (1, 0)


async def test_bad_error_details_are_refused_and_the_span_stays_open(gql: GraphQLClient) -> None:
    _, trace = await new_trace(gql)
    span = (await factories.span(gql, trace))["id"]
    document = factories.mutation_document("endSpan", "id")
    for details in (
        {"message": "  "},
        {"message": "m", "type": ""},
        {"message": "m", "type": "E" * 256},
    ):
        input = {"spanId": span, "status": "ERROR", "errorDetails": details}
        assert await gql.error_code(document, {"input": input}) == "BAD_USER_INPUT"
    # A missing message is the GraphQL validation's to refuse.
    input = {"spanId": span, "status": "ERROR", "errorDetails": {"type": "E"}}
    assert "message" in (await gql.error(document, {"input": input}))["message"]
    assert await read(gql, SPAN, span, "endedAt errorDetails { message }") == {
        "endedAt": None,
        "errorDetails": None,
    }


async def test_an_ok_span_has_no_error(gql: GraphQLClient) -> None:
    _, trace = await new_trace(gql)
    span = (await factories.span(gql, trace))["id"]
    document = factories.mutation_document("endSpan", "id")
    for given in (
        {"status": "OK", "error": "boom"},
        {"status": "OK", "errorDetails": {"message": "boom", "type": "E"}},
        {"error": "boom"},  # OK is the default status
    ):
        error = await gql.error(document, {"input": {"spanId": span, **given}})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", given
        assert "an OK span has no error" in error["message"]
    end = {"spanId": span, "status": "OK", "errorDetails": {"message": "boom"}}
    [refused] = (await gql.data(INGEST, {"batch": [{"clientEventId": "e", "span": {"end": end}}]}))[
        "ingest"
    ]
    assert (refused["ok"], refused["error"]["code"]) == (False, "BAD_USER_INPUT")
    assert await read(gql, SPAN, span, f"endedAt {ERROR}") == {
        "endedAt": None,
        "status": "UNSET",
        "error": None,
        "errorDetails": None,
    }
    ended = await factories.end_span(gql, span, ERROR, status="OK")
    assert ended == {"status": "OK", "error": None, "errorDetails": None}


async def test_state_nested_past_the_limit_is_refused(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    deep: Any = {}
    for _ in range(70):
        deep = {"d": deep}
    document = factories.mutation_document("startTrace", "id")
    error = await gql.error(document, {"input": {"conversationId": conv, "systemConfig": deep}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_strangers_neither_read_nor_write_a_runs_state(
    secured_http: httpx.AsyncClient,
) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    conv = await factories.conversation(alice, owner={"participantId": "alice"})
    trace = (await factories.trace(alice, conv["id"], systemConfig=CONFIG))["id"]
    span = (await factories.span(alice, trace, memorySnapshot={"secret": 1}))["id"]
    assert await read(carol, TRACE, trace, "systemConfig") is None
    assert await read(carol, SPAN, span, "memorySnapshot") is None
    start = factories.mutation_document("startSpan", "id")
    input = {"traceId": trace, "name": "x", "memorySnapshot": {"planted": True}}
    assert await carol.error_code(start, {"input": input}) == "NOT_FOUND"
    end = factories.mutation_document("endSpan", "id")
    input = {"spanId": span, "status": "ERROR", "errorDetails": {"message": "planted"}}
    assert await carol.error_code(end, {"input": input}) == "NOT_FOUND"
    assert await read(alice, SPAN, span, "status errorDetails { message }") == {
        "status": "UNSET",
        "errorDetails": None,
    }


# --- OTLP ---------------------------------------------------------------------------


async def test_an_ingested_exception_becomes_error_details(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    recorder = Recorder()
    with recorder.tracer.start_as_current_span("agent run", attributes={"session.id": "otel-err"}):
        with recorder.tracer.start_as_current_span("ok step"):
            pass
        try:
            with recorder.tracer.start_as_current_span("failing step"):
                raise TimeoutError("upstream timed out")
        except TimeoutError:
            pass
        with recorder.tracer.start_as_current_span("status only") as span:
            span.set_status(Status(StatusCode.ERROR, "refused"))
    response = await http.post(
        "/v1/traces",
        content=protobuf_body(recorder.take()),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.text
    found = await gql.data(f"{{ spans(first: 10) {{ nodes {{ name {ERROR} }} }} }}")
    by_name = {s["name"]: s for s in found["spans"]["nodes"]}
    failing = by_name["failing step"]
    assert (failing["status"], failing["error"]) == ("ERROR", "TimeoutError: upstream timed out")
    details = failing["errorDetails"]
    assert (details["type"], details["message"], details["retryable"]) == (
        "TimeoutError",
        "upstream timed out",
        None,
    )
    assert 'raise TimeoutError("upstream timed out")' in details["stack"]
    # Without an exception event, the status message alone.
    assert by_name["status only"]["errorDetails"] == {
        "type": None,
        "message": "refused",
        "stack": None,
        "retryable": None,
    }
    assert by_name["ok step"]["errorDetails"] is None
    # Spans without an error store no details: SQL NULL, on COPY (PostgreSQL) as on INSERT.
    assert await nulls(app, "spans", ("error_details",)) == 3
