"""Prices through /graphql: the table in effect, owners' prices, and the costs writes
store (PRICED, REPORTED or NONE) on messages, spans, bulk items and ingested spans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.util.types import AttributeValue

from bench.otel_runs import Recorder, protobuf_body
from config import Settings
from resolvers.pricing.table import read_price_file
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_key, as_user, new_key
from tests.web.conftest import app_with

USAGE = "cost costSource priceId inputTokens cachedInputTokens outputTokens"
PRICE = "id source model provider inputPerMillion outputPerMillion cachedInputPerMillion asOf"
MINI = "builtin/2025-06:openai/gpt-4o-mini"
PRICES = f"query($u: String) {{ modelPrices(userId: $u) {{ {PRICE} }} }}"
PRICE_OF = f"""query($m: String!, $u: String) {{
  modelPrice(model: $m, userId: $u) {{ {PRICE} }} }}"""
SET = f"""mutation($i: ModelPriceInput!, $u: String) {{
  setModelPrice(input: $i, userId: $u) {{ {PRICE} }} }}"""
DELETE = f"""mutation($m: String!, $u: String) {{
  deleteModelPrice(model: $m, userId: $u) {{ {PRICE} }} }}"""
MESSAGES = f"""query($id: ID!) {{ conversation(id: $id) {{
  cost messages(allBranches: true, first: 20) {{ nodes {{ {USAGE} }} }} }} }}"""
CONVERSATION_COST = "query($id: ID!) { conversation(id: $id) { cost totalTokens } }"
TRACE_SPANS = f"""query($id: ID!) {{ conversation(id: $id) {{ cost traces {{ nodes {{
  cost spans {{ nodes {{ name kind model {USAGE} }} }} }} }} }} }}"""
PROTOBUF = {"Content-Type": "application/x-protobuf"}


async def send(gql: GraphQLClient, conversation: str, **input: Any) -> dict[str, Any]:
    message: dict[str, Any] = await factories.message(gql, conversation, f"id {USAGE}", **input)
    return message


def usage(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["cost"], row["costSource"], row["priceId"])


async def test_the_built_in_prices_are_in_effect_by_default(gql: GraphQLClient) -> None:
    listed = (await gql.data(PRICES))["modelPrices"]
    assert {p["source"] for p in listed} == {"BUILTIN"}
    mini = {
        "id": MINI,
        "source": "BUILTIN",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "inputPerMillion": 0.15,
        "outputPerMillion": 0.6,
        "cachedInputPerMillion": 0.075,
        "asOf": "2025-06",
    }
    assert mini in listed
    assert [p["model"] for p in listed] == sorted(p["model"] for p in listed)
    found = await gql.data(PRICE_OF, {"m": "OpenAI/gpt-4o-mini-2024-07-18"})
    assert found["modelPrice"] == mini
    assert (await gql.data(PRICE_OF, {"m": "my-own-model"}))["modelPrice"] is None


async def test_a_message_is_priced_unless_it_states_its_cost(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    model = {"model": "gpt-4o-mini-2024-07-18", "inputTokens": 1000, "outputTokens": 500}
    priced = await send(gql, conversation, **model, cachedInputTokens=400)
    # (600 * 0.15 + 400 * 0.075 + 500 * 0.60) / 1e6
    assert usage(priced) == (0.00042, "PRICED", MINI)
    assert priced["cachedInputTokens"] == 400
    reported = await send(gql, conversation, **model, cost=0)
    assert usage(reported) == (0, "REPORTED", None)
    stated = await send(gql, conversation, **model, cost=0.01522)
    assert usage(stated) == (0.01522, "REPORTED", None)
    unpriced = [
        await send(gql, conversation, model="my-own-model", inputTokens=10),
        await send(gql, conversation, inputTokens=10),
        await send(gql, conversation, model="gpt-4o"),
    ]
    assert [usage(m) for m in unpriced] == [(0, "NONE", None)] * 3
    edit = f"mutation($i: EditMessageInput!) {{ editMessage(input: $i) {{ {USAGE} }} }}"
    edited = await gql.data(
        edit, {"i": {"messageId": priced["id"], "model": "gpt-4o", "inputTokens": 1000}}
    )
    assert usage(edited["editMessage"]) == (0.0025, "PRICED", "builtin/2025-06:openai/gpt-4o")
    # Read back (on PostgreSQL by the compiled path) as written; the roll-up is the
    # exact sum, 0.00042 + 0.01522 + 0.0025.
    found = (await gql.data(MESSAGES, {"id": conversation}))["conversation"]
    assert [usage(m) for m in found["messages"]["nodes"]] == [
        usage(m) for m in (priced, reported, stated, *unpriced, edited["editMessage"])
    ]
    assert found["cost"] == 0.01814


async def test_sums_of_costs_are_exact(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    for _ in range(3):
        await send(gql, conversation, cost=0.1)
    found = await gql.data(CONVERSATION_COST, {"id": conversation})
    assert found["conversation"]["cost"] == 0.3


async def test_a_span_is_priced_when_it_ends(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, conversation))["id"]
    claude = await factories.span(gql, trace, model="claude-sonnet-4-20250514", kind="LLM")
    ended = await factories.end_span(
        gql, claude["id"], USAGE, inputTokens=2000, cachedInputTokens=1000, outputTokens=100
    )
    # (1000 * 3 + 1000 * 0.30 + 100 * 15) / 1e6
    assert usage(ended) == (0.0048, "PRICED", "builtin/2025-06:anthropic/claude-sonnet-4")
    stated = await factories.span(gql, trace, name="stated")
    ended = await factories.end_span(gql, stated["id"], USAGE, model="o3", inputTokens=10, cost=0.5)
    assert usage(ended) == (0.5, "REPORTED", None)
    tool = await factories.span(gql, trace, name="tool", kind="TOOL")
    assert usage(await factories.end_span(gql, tool["id"], USAGE)) == (0, "NONE", None)
    found = await gql.data(TRACE_SPANS, {"id": conversation})
    assert found["conversation"]["traces"]["nodes"][0]["cost"] == 0.5048


INGEST = """mutation($batch: [IngestItem!]!) { ingest(batch: $batch) { ok id error { code } } }"""


async def test_bulk_items_are_priced(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, conversation))["id"]
    span = (await factories.span(gql, trace, model="text-embedding-3-small"))["id"]
    message = {"conversationId": conversation, "senderId": "user-1", "model": "o4-mini"}
    batch = [
        {"clientEventId": "m", "message": {**message, "inputTokens": 1_000_000}},
        {"clientEventId": "s", "span": {"end": {"spanId": span, "inputTokens": 500_000}}},
    ]
    results = (await gql.data(INGEST, {"batch": batch}))["ingest"]
    assert [r["ok"] for r in results] == [True, True], results
    read = f"""query($m: ID!, $s: ID!) {{
      message(id: $m) {{ {USAGE} }} span(id: $s) {{ {USAGE} }} }}"""
    found = await gql.data(read, {"m": results[0]["id"], "s": results[1]["id"]})
    assert usage(found["message"]) == (1.1, "PRICED", "builtin/2025-06:openai/o4-mini")
    assert usage(found["span"]) == (
        0.01,
        "PRICED",
        "builtin/2025-06:openai/text-embedding-3-small",
    )


def model_calls(key: str) -> bytes:
    """An agent run whose totals restate its calls', a priced call, a call that reports
    its cost (OpenInference) and a call of a model no price names."""
    recorder = Recorder()
    tracer = recorder.tracer
    common: dict[str, AttributeValue] = {
        "gen_ai.conversation.id": key,
        "gen_ai.provider.name": "openai",
    }
    run: dict[str, AttributeValue] = {
        **common,
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 2000,
        "gen_ai.usage.cost": 9.5,
    }
    chat: dict[str, AttributeValue] = {
        **common,
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    with tracer.start_as_current_span("agent", attributes=run):
        priced: dict[str, AttributeValue] = {
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.cache_read.input_tokens": 400,
            "gen_ai.usage.output_tokens": 500,
        }
        with tracer.start_as_current_span("priced", attributes={**chat, **priced}):
            pass
        reported: dict[str, AttributeValue] = {
            "session.id": key,
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 100,
            "llm.token_count.prompt_details.cache_read": 50,
            "llm.cost.total": 0.25,
        }
        with tracer.start_as_current_span("reported", attributes=reported):
            pass
        unknown: dict[str, AttributeValue] = {
            **chat,
            "gen_ai.request.model": "my-own-model",
            "gen_ai.usage.input_tokens": 9,
        }
        with tracer.start_as_current_span("unknown", attributes=unknown):
            pass
    return protobuf_body(recorder.take())


async def test_ingested_model_calls_are_priced(http: httpx.AsyncClient, gql: GraphQLClient) -> None:
    response = await http.post("/v1/traces", content=model_calls("priced-run"), headers=PROTOBUF)
    assert response.status_code == 200, response.text
    listed = await gql.data(
        '{ conversations(filter: {titleContains: "priced-run"}) { nodes { id } } }'
    )
    (conversation,) = listed["conversations"]["nodes"]
    found = (await gql.data(TRACE_SPANS, {"id": conversation["id"]}))["conversation"]
    (trace,) = found["traces"]["nodes"]
    spans = {s["name"]: s for s in trace["spans"]["nodes"]}
    assert usage(spans["priced"]) == (0.00042, "PRICED", MINI)
    assert spans["priced"]["cachedInputTokens"] == 400
    assert usage(spans["reported"]) == (0.25, "REPORTED", None)
    assert spans["reported"]["cachedInputTokens"] == 50
    assert usage(spans["unknown"]) == (0, "NONE", None)
    # The run's own totals and cost restate its calls': they count nothing.
    assert usage(spans["agent"]) == (0, "NONE", None)
    assert (trace["cost"], found["cost"]) == (0.25042, 0.25042)


async def test_an_owner_prices_their_own_conversations(secured_http: httpx.AsyncClient) -> None:
    alice, bob = as_user(secured_http, "alice"), as_user(secured_http, "bob")
    mine = (await factories.conversation(alice, owner={"participantId": "alice"}))["id"]
    # A conversation alice's agent owns is priced with her prices too.
    secret, _ = await new_key(alice, ["READ", "WRITE"], agent_id="alices-bot")
    bot = as_key(secured_http, secret)
    bots = {"participantId": "alices-bot", "participantType": "AGENT"}
    bot_owned = (await factories.conversation(bot, owner=bots, participants=[]))["id"]
    theirs = (await factories.conversation(bob, owner={"participantId": "bob"}))["id"]
    price = {"model": "GPT-4o-mini", "inputPerMillion": 1, "outputPerMillion": 2}
    created = (await alice.data(SET, {"i": price}))["setModelPrice"]
    assert created["id"].startswith("owner/")
    assert created["id"].endswith(":gpt-4o-mini")
    assert (created["source"], created["model"], created["cachedInputPerMillion"]) == (
        "OWNER",
        "gpt-4o-mini",
        None,
    )
    assert (await alice.data(PRICE_OF, {"m": "gpt-4o-mini-2024-07-18"}))["modelPrice"] == created
    listed = (await alice.data(PRICES))["modelPrices"]
    assert [p for p in listed if p["model"] == "gpt-4o-mini"] == [created]
    assert (await bob.data(PRICE_OF, {"m": "gpt-4o-mini"}))["modelPrice"]["id"] == MINI

    call = {"model": "gpt-4o-mini", "inputTokens": 1000, "outputTokens": 1000, "senderId": "alice"}
    first = await send(alice, mine, **call)
    assert usage(first) == (0.003, "PRICED", created["id"])
    bot_call = {**call, "senderId": "alices-bot", "senderType": "AGENT", "role": "ASSISTANT"}
    assert usage(await send(bot, bot_owned, **bot_call)) == (0.003, "PRICED", created["id"])
    # Another user's price does not price bob's conversation.
    bobs = await send(bob, theirs, **{**call, "senderId": "bob"})
    assert usage(bobs) == (0.00075, "PRICED", MINI)

    changed = (await alice.data(SET, {"i": {**price, "inputPerMillion": 10}}))["setModelPrice"]
    assert changed["id"] != created["id"]
    second = await send(alice, mine, **call)
    assert usage(second) == (0.012, "PRICED", changed["id"])
    # What was written keeps the price it was written with.
    read = f"query($id: ID!) {{ message(id: $id) {{ {USAGE} }} }}"
    assert usage((await alice.data(read, {"id": first["id"]}))["message"]) == usage(first)
    assert (await alice.data(CONVERSATION_COST, {"id": mine}))["conversation"]["cost"] == 0.015

    deleted = (await alice.data(DELETE, {"m": "gpt-4o-mini"}))["deleteModelPrice"]
    assert deleted == changed
    assert usage(await send(alice, mine, **call)) == (0.00075, "PRICED", MINI)
    assert await alice.error_code(DELETE, {"m": "gpt-4o-mini"}) == "NOT_FOUND"


async def test_nobody_sets_or_reads_another_users_prices(
    secured_http: httpx.AsyncClient,
) -> None:
    alice, bob = as_user(secured_http, "alice"), as_user(secured_http, "bob")
    price = {"model": "gpt-4o", "inputPerMillion": 1, "outputPerMillion": 1}
    assert await bob.error_code(SET, {"i": price, "u": "alice"}) == "FORBIDDEN"
    assert await bob.error_code(PRICES, {"u": "alice"}) == "FORBIDDEN"
    assert await bob.error_code(DELETE, {"m": "gpt-4o", "u": "alice"}) == "FORBIDDEN"
    reader, _ = await new_key(alice, ["READ"])
    assert await as_key(secured_http, reader).error_code(SET, {"i": price}) == "FORBIDDEN"
    writer, _ = await new_key(alice, ["READ", "WRITE"])
    set_by_key = (await as_key(secured_http, writer).data(SET, {"i": price}))["setModelPrice"]
    assert (await alice.data(PRICE_OF, {"m": "gpt-4o"}))["modelPrice"] == set_by_key
    assert (await bob.data(PRICE_OF, {"m": "gpt-4o"}))["modelPrice"]["source"] == "BUILTIN"


async def test_bad_prices_and_costs_are_refused(gql: GraphQLClient) -> None:
    bad_prices: list[dict[str, Any]] = [
        {"model": "m", "inputPerMillion": -1, "outputPerMillion": 1},
        {"model": "m", "inputPerMillion": 1, "outputPerMillion": 10001},
        {"model": "m", "inputPerMillion": 1, "outputPerMillion": 1e-10},
        {"model": " ", "inputPerMillion": 1, "outputPerMillion": 1},
    ]
    for bad in bad_prices:
        assert await gql.error_code(SET, {"i": bad}) == "BAD_USER_INPUT", bad
    conversation = (await factories.conversation(gql))["id"]
    document = factories.mutation_document("sendMessage", "id")
    bad_usage: list[dict[str, Any]] = [{"cost": -0.1}, {"inputTokens": 10, "cachedInputTokens": 11}]
    for bad in bad_usage:
        input = {"conversationId": conversation, "senderId": "user-1", **bad}
        assert await gql.error_code(document, {"input": input}) == "BAD_USER_INPUT", bad


async def test_the_operators_file_prices_calls(
    settings: Settings, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = tmp_path / "prices.json"
    entries = [
        {
            "model": "gpt-4o-mini",
            "provider": "azure",
            "inputPerMillion": 0.2,
            "outputPerMillion": 0.8,
            "asOf": "2025-07-01",
        },
        {"model": "house-model", "inputPerMillion": 0.5, "outputPerMillion": 0.5},
    ]
    path.write_text(json.dumps(entries))
    async with app_with(settings, prices=read_price_file(str(path))) as client:
        gql = GraphQLClient(client)
        listed = {p["model"]: p for p in (await gql.data(PRICES))["modelPrices"]}
        assert listed["gpt-4o-mini"]["id"] == "file/2025-07-01:azure/gpt-4o-mini"
        assert listed["house-model"]["source"] == "FILE"
        assert listed["gpt-4o"]["source"] == "BUILTIN"
        conversation = (await factories.conversation(gql))["id"]
        call = {"model": "house-model-v2", "inputTokens": 1000, "outputTokens": 1000}
        assert usage(await send(gql, conversation, **call)) == (
            0.001,
            "PRICED",
            "file/undated:house-model",
        )
