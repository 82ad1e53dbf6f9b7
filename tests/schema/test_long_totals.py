"""64-bit totals: token sums past 2^31 are stored and read back exactly (GraphQL Long);
a write that would take a total past 2^53 - 1 is refused; a token count that a
message's or span's own 32-bit column cannot hold is BAD_USER_INPUT."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from graphql import GraphQLError, IntValueNode, StringValueNode
from sqlalchemy import update
from starlette.applications import Starlette

import models
from resolvers.ids import from_global_id
from resolvers.writes.totals import MAX_TOTAL
from schema.scalars import coerce_long, parse_long_literal
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.web import otlp_json as otlp

CALLS = 220
INPUT, OUTPUT = 10_000_000, 1_000_000  # per call: the most a call may report, and some
TOTALS = "inputTokens outputTokens totalTokens"
STATE = f"""query($c: ID!) {{ conversation(id: $c) {{ {TOTALS} messageCount
  traces {{ totalCount nodes {{ totalTokens }} }} }} }}"""
USAGE = f"query($c: [ID!]) {{ usage(filter: {{conversationIds: $c}}) {{ count {TOTALS} }} }}"
INGEST = """mutation($b: [IngestItem!]!) { ingest(batch: $b) { ok error { code message } } }"""


def model_call(number: int) -> dict[str, Any]:
    attributes = {
        "gen_ai.conversation.id": "long-totals",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": INPUT,
        "gen_ai.usage.output_tokens": OUTPUT,
    }
    return otlp.span(1, number, "chat", attributes, parent=0, start=number)


async def test_ingested_totals_past_2_31_read_back_exactly(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    agent = {"gen_ai.conversation.id": "long-totals", "gen_ai.operation.name": "invoke_agent"}
    root = otlp.span(1, 0, "agent", agent, end=CALLS + 100)
    await otlp.post(http, root, *(model_call(n) for n in range(1, CALLS + 1)))
    conversation = await otlp.conversation(gql, "long-totals")

    state = (await gql.data(STATE, {"c": conversation["id"]}))["conversation"]
    expected = {
        "inputTokens": CALLS * INPUT,
        "outputTokens": CALLS * OUTPUT,
        "totalTokens": CALLS * (INPUT + OUTPUT),
    }
    assert expected["totalTokens"] > 2**31
    assert {name: state[name] for name in expected} == expected
    assert state["traces"] == {
        "totalCount": 1,
        "nodes": [{"totalTokens": expected["totalTokens"]}],
    }
    [group] = (await gql.data(USAGE, {"c": [conversation["id"]]}))["usage"]
    assert group == {"count": CALLS + 1, **expected}  # the agent's span counts, with no tokens


async def test_message_totals_past_2_31_read_back_exactly(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    message = {"conversationId": conversation, "senderId": "agent", "role": "ASSISTANT"}
    batch = [
        {"clientEventId": f"m{n}", "message": {**message, "inputTokens": INPUT}}
        for n in range(CALLS)
    ]
    results = (await gql.data(INGEST, {"b": batch}))["ingest"]
    assert all(result["ok"] for result in results), results

    state = (await gql.data(STATE, {"c": conversation}))["conversation"]
    assert (state["inputTokens"], state["totalTokens"]) == (CALLS * INPUT, CALLS * INPUT)
    assert (state["outputTokens"], state["messageCount"]) == (0, CALLS)


async def set_totals(app: Starlette, model: Any, global_id: str, **totals: int) -> None:
    """Totals near the cap: more writes than a test can send would reach them."""
    async with app.state.engine.begin() as connection:
        row_id = from_global_id(global_id)[1]
        await connection.execute(update(model).where(model.id == row_id).values(**totals))


async def test_a_message_past_the_largest_total_is_a_conflict(
    gql: GraphQLClient, app: Starlette
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    await set_totals(
        app,
        models.Conversation,
        conversation,
        input_tokens=MAX_TOTAL - 5,
        total_tokens=MAX_TOTAL - 5,
    )
    send = factories.mutation_document("sendMessage", "id")
    payload = {"conversationId": conversation, "senderId": "u", "inputTokens": 6}
    assert await gql.error_code(send, {"input": payload}) == "CONFLICT"
    await factories.message(gql, conversation, inputTokens=5)

    state = (await gql.data(STATE, {"c": conversation}))["conversation"]
    assert (state["inputTokens"], state["totalTokens"], state["messageCount"]) == (
        MAX_TOTAL,
        MAX_TOTAL,
        1,
    )


async def test_a_span_past_the_largest_trace_total_is_a_conflict(
    gql: GraphQLClient, app: Starlette
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, conversation))["id"]
    await set_totals(app, models.Trace, trace, total_tokens=MAX_TOTAL)
    span = (await factories.span(gql, trace))["id"]
    end = factories.mutation_document("endSpan", "id")
    assert await gql.error_code(end, {"input": {"spanId": span, "inputTokens": 1}}) == "CONFLICT"

    read = "query($t: ID!) { trace(id: $t) { totalTokens } }"
    assert (await gql.data(read, {"t": trace}))["trace"] == {"totalTokens": MAX_TOTAL}


@pytest.mark.parametrize("tokens", [2**31, 2**53, 2**63])
@pytest.mark.parametrize("field", ["inputTokens", "cachedInputTokens", "totalTokens"])
async def test_token_counts_a_row_cannot_hold_are_bad_user_input(
    gql: GraphQLClient, field: str, tokens: int
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, conversation))["id"]
    span = (await factories.span(gql, trace))["id"]
    send = factories.mutation_document("sendMessage", "id")
    message = {"conversationId": conversation, "senderId": "u", field: tokens}
    assert await gql.error_code(send, {"input": message}) == "BAD_USER_INPUT"
    end = factories.mutation_document("endSpan", "id")
    assert await gql.error_code(end, {"input": {"spanId": span, field: tokens}}) == "BAD_USER_INPUT"
    batch = [{"clientEventId": "big", "message": message}]
    assert await gql.error_code(INGEST, {"b": batch}) == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
        (1e3, 1000),
        (Decimal("2472059877"), 2472059877),
    ],
)
def test_long_takes_64_bit_integers(value: object, expected: int) -> None:
    assert coerce_long(value) == expected


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, True, 1.5, "1", None, Decimal("NaN")])
def test_long_refuses_what_is_not_a_64_bit_integer(value: object) -> None:
    with pytest.raises(GraphQLError):
        coerce_long(value)


def test_long_literals_are_64_bit_integers() -> None:
    assert parse_long_literal(IntValueNode(value=str(2**63 - 1))) == 2**63 - 1
    for node in (IntValueNode(value=str(2**63)), StringValueNode(value="1")):
        with pytest.raises(GraphQLError):
            parse_long_literal(node)
