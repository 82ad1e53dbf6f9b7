"""The `ingest` mutation: mixed batches, per-item results, idempotency, limits, access."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from config import Settings
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.identities import as_key, as_user, new_key
from tests.web.conftest import app_with
from tests.ws_client import GraphQLWebSocket

INGEST = """mutation($batch: [IngestItem!]!) {
  ingest(batch: $batch) { index clientEventId ok id error { message code } }
}"""
CONVERSATION = """query($id: ID!) { conversation(id: $id) {
  messageCount
  messages(first: 20) { nodes {
    id seq content thinking status
    toolCalls { id callId status result span { name status } }
  } }
  traces { nodes { id status rootSpans { id name status inputTokens outputTokens } } }
} }"""
STEPS = "query($id: ID!) { node(id: $id) { ... on Plan { status steps { position status } } } }"
EVENTS = """subscription($c: ID!) {
  conversationEvents(conversationId: $c) { kind ... on MessageEvent { message { content } } }
}"""


def uid(type_name: str) -> tuple[str, str]:
    """A client-chosen UUID for a new row, and the global id the row will have."""
    raw = uuid.uuid4()
    return str(raw), to_global_id(type_name, raw)


async def ingest(gql: GraphQLClient, *items: dict[str, Any]) -> list[dict[str, Any]]:
    batch = [{"clientEventId": f"e{n}", **item} for n, item in enumerate(items)]
    results: list[dict[str, Any]] = (await gql.data(INGEST, {"batch": batch}))["ingest"]
    assert [r["index"] for r in results] == list(range(len(items)))
    return results


def codes(results: list[dict[str, Any]]) -> list[str | None]:
    return [r["error"] and r["error"]["code"] for r in results]


async def test_a_mixed_batch_applies_every_kind_of_item(gql: GraphQLClient) -> None:
    conversation, conversation_id = uid("Conversation")
    answer, answer_id = uid("Message")
    trace, trace_id = uid("Trace")
    span, span_id = uid("Span")
    call, call_id = uid("ToolCall")
    agent = {
        "senderId": "agent-1",
        "senderType": "AGENT",
        "role": "ASSISTANT",
        "status": "STREAMING",
    }
    tool = {"id": call, "messageId": answer_id, "callId": "c1", "toolName": "search"}
    results = await ingest(
        gql,
        {"conversation": {"id": conversation, "owner": {"participantId": "user-1"}}},
        {"message": {"conversationId": conversation_id, "senderId": "user-1", "content": "hi"}},
        {"message": {"id": answer, "conversationId": conversation_id, **agent}},
        {"event": {"answerChunk": {"messageId": answer_id, "text": "Hello"}}},
        {"event": {"thought": {"messageId": answer_id, "text": "greet back"}}},
        {"trace": {"start": {"id": trace, "conversationId": conversation_id, "name": "run"}}},
        {"span": {"start": {"id": span, "traceId": trace_id, "name": "llm", "kind": "LLM"}}},
        {"span": {"end": {"spanId": span_id, "inputTokens": 3, "outputTokens": 4}}},
        {"toolCall": {"start": {**tool, "traceId": trace_id, "parentSpanId": span_id}}},
        {"toolCall": {"end": {"toolCallId": call_id, "result": {"hits": 2}}}},
        {"trace": {"end": {"traceId": trace_id}}},
    )
    assert codes(results) == [None] * 11, results
    assert [r["ok"] for r in results] == [True] * 11
    assert [r["id"] for r in results[2:5]] == [answer_id] * 3
    assert [results[0]["id"], *(r["id"] for r in results[5:])] == [
        conversation_id,
        *(trace_id, span_id, span_id, call_id, call_id, trace_id),
    ]
    found = (await gql.data(CONVERSATION, {"id": conversation_id}))["conversation"]
    assert found["messageCount"] == 2
    first, second = found["messages"]["nodes"]
    assert (first["id"], first["seq"], first["content"]) == (results[1]["id"], 1, "hi")
    assert (second["content"], second["thinking"], second["status"]) == (
        "Hello",
        "greet back",
        "STREAMING",
    )
    (made,) = second["toolCalls"]
    assert (made["callId"], made["status"], made["result"]) == ("c1", "COMPLETED", {"hits": 2})
    assert made["span"] == {"name": "search", "status": "OK"}
    (run,) = found["traces"]["nodes"]
    (root,) = run["rootSpans"]
    assert (run["status"], root["name"], root["status"]) == ("OK", "llm", "OK")
    assert (root["inputTokens"], root["outputTokens"]) == (3, 4)


async def test_a_bad_item_fails_alone_and_leaves_nothing(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    plan = await factories.plan(gql, conversation, [[], [0]], fields="id steps { id }")
    first_step, second_step = (step["id"] for step in plan["steps"])
    elsewhere = await factories.trace(gql, (await factories.conversation(gql))["id"])
    foreign_span = (await factories.span(gql, elsewhere["id"]))["id"]
    say = {"conversationId": conversation, "senderId": "user-1"}
    results = await ingest(
        gql,
        {"message": {**say, "content": "a"}},
        # Fails after taking a sequence number: its savepoint rolls that back too.
        {
            "message": {
                **say,
                "toolCalls": [{"callId": "c", "toolName": "t", "spanId": foreign_span}],
            }
        },
        {"stepStatus": {"stepId": second_step, "status": "RUNNING"}},
        {"stepStatus": {"stepId": first_step, "status": "RUNNING"}},
        {},
        {
            "message": {**say, "content": "x"},
            "stepStatus": {"stepId": first_step, "status": "SKIPPED"},
        },
        {"message": {**say, "conversationId": to_global_id("Conversation", uuid.uuid4())}},
        {"message": {**say, "content": "b"}},
    )
    assert codes(results) == [
        None,
        "BAD_USER_INPUT",
        "BAD_USER_INPUT",
        None,
        "BAD_USER_INPUT",
        "BAD_USER_INPUT",
        "NOT_FOUND",
        None,
    ]
    assert [r["ok"] for r in results] == [True, False, False, True, False, False, False, True]
    assert all(r["id"] is None for r in results if not r["ok"])
    assert "another conversation" in results[1]["error"]["message"]
    assert "exactly one" in results[4]["error"]["message"]
    found = (await gql.data(CONVERSATION, {"id": conversation}))["conversation"]
    assert found["messageCount"] == 2
    assert [(m["seq"], m["content"]) for m in found["messages"]["nodes"]] == [(1, "a"), (2, "b")]
    steps = (await gql.data(STEPS, {"id": plan["id"]}))["node"]["steps"]
    assert [s["status"] for s in steps] == ["RUNNING", "PENDING"]


async def test_a_resent_item_returns_its_first_result(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    unknown = to_global_id("Conversation", uuid.uuid4())
    once = {"clientEventId": "once", "message": {"conversationId": conversation, "senderId": "u"}}
    late = {"clientEventId": "late", "message": {"conversationId": unknown, "senderId": "u"}}
    first = await ingest(gql, once, late)
    assert codes(first) == [None, "NOT_FOUND"]
    again = await ingest(gql, once, late)
    assert again == first
    # A failed item left no receipt: fixed, it is applied now.
    fixed = {**late, "message": {"conversationId": conversation, "senderId": "u"}}
    third = await ingest(gql, once, fixed)
    assert (third[0], codes(third)) == (first[0], [None, None])
    # Twice in one batch: applied once, the same result twice.
    twice = await ingest(gql, *[{"clientEventId": "twice", "message": once["message"]}] * 2)
    assert twice[0] | {"index": 1} == twice[1]
    assert twice[0]["ok"]
    found = (await gql.data(CONVERSATION, {"id": conversation}))["conversation"]
    assert found["messageCount"] == 3


async def test_a_resend_racing_the_first_send_is_applied_once(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    op = await ws.subscribe(EVENTS, {"c": conversation})
    await asyncio.sleep(0.2)  # let the subscription open before writing
    item = {"clientEventId": "raced", "message": {"conversationId": conversation, "senderId": "u"}}
    sent = await asyncio.gather(*(ingest(gql, item) for _ in range(4)))
    results = [r for (r,) in sent]
    applied = {r["id"] for r in results if r["ok"]}
    assert len(applied) == 1
    # Those that lost the race to the receipt are told so (PostgreSQL); none wrote.
    assert {r["error"]["code"] for r in results if not r["ok"]} <= {"CONFLICT"}
    (event,) = await ws.collect(op, 1)
    assert event["conversationEvents"]["kind"] == "MESSAGE_CREATED"
    await ws.nothing_more(op)
    found = (await gql.data(CONVERSATION, {"id": conversation}))["conversation"]
    assert found["messageCount"] == 1


async def test_applied_items_publish_their_events(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conversation = (await factories.conversation(gql))["id"]
    op = await ws.subscribe(EVENTS, {"c": conversation})
    await asyncio.sleep(0.2)
    say = {"conversationId": conversation, "senderId": "user-1"}
    results = await ingest(
        gql,
        {"message": {**say, "content": "one"}},
        {
            "message": {
                **say,
                "content": "late",
                "parentMessageId": to_global_id("Message", uuid.uuid4()),
            }
        },
        {"trace": {"start": {"conversationId": conversation}}},
        {"message": {**say, "content": "two"}},
    )
    assert codes(results) == [None, "NOT_FOUND", None, None]
    events = [e["conversationEvents"] for e in await ws.collect(op, 3)]
    assert [(e["kind"], e.get("message")) for e in events] == [
        ("MESSAGE_CREATED", {"content": "one"}),
        ("TRACE_STARTED", None),
        ("MESSAGE_CREATED", {"content": "two"}),
    ]
    await ws.nothing_more(op)


async def test_a_batch_past_the_limit_is_refused_whole(
    settings: Settings, gql: GraphQLClient
) -> None:
    conversation, conversation_id = uid("Conversation")
    create = {"conversation": {"id": conversation, "owner": {"participantId": "user-1"}}}
    async with app_with(settings, ingest_max_items=2) as client:
        limited = GraphQLClient(client)
        batch = [{"clientEventId": str(n), **create} for n in range(3)]
        error = await limited.error(INGEST, {"batch": batch})
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "at most 2 items" in error["message"]
        assert (await gql.data(CONVERSATION, {"id": conversation_id}))["conversation"] is None
        # At the limit: applied (the second create of the same client id returns the first).
        results = await ingest(limited, create, create)
    assert [r["id"] for r in results] == [conversation_id] * 2


async def test_ingest_needs_the_ingest_scope(secured_http: httpx.AsyncClient) -> None:
    dave = as_user(secured_http, "dave")
    conversation = (await factories.conversation(dave, owner={"participantId": "dave"}))["id"]
    item = {"message": {"conversationId": conversation, "senderId": "dave", "content": "x"}}
    writer, _ = await new_key(dave, ["READ", "WRITE"])
    error = await as_key(secured_http, writer).error(
        INGEST, {"batch": [{"clientEventId": "a", **item}]}
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "INGEST" in error["message"]
    ingester, _ = await new_key(dave, ["INGEST"])
    (result,) = await ingest(as_key(secured_http, ingester), item)
    assert result["ok"]
    found = (await dave.data(CONVERSATION, {"id": conversation}))["conversation"]
    assert [m["content"] for m in found["messages"]["nodes"]] == ["x"]


async def test_nobody_ingests_into_what_they_cannot_see(secured_http: httpx.AsyncClient) -> None:
    alice, bob = as_user(secured_http, "alice"), as_user(secured_http, "bob")
    theirs = (await factories.conversation(alice, owner={"participantId": "alice"}))["id"]
    own, own_id = uid("Conversation")
    results = await ingest(
        bob,
        {"message": {"conversationId": theirs, "senderId": "bob", "content": "sneaky"}},
        {"trace": {"start": {"conversationId": theirs}}},
        {"conversation": {"id": own, "owner": {"participantId": "bob"}}},
        {"conversation": {"owner": {"participantId": "alice"}}},
        {"message": {"conversationId": own_id, "senderId": "bob", "content": "mine"}},
    )
    assert codes(results) == ["NOT_FOUND", "NOT_FOUND", None, "FORBIDDEN", None]
    found = (await alice.data(CONVERSATION, {"id": theirs}))["conversation"]
    assert (found["messageCount"], found["traces"]["nodes"]) == (0, [])


KINDS = """query($id: ID!) { conversation(id: $id) { messageCount
  messages(first: 20) { nodes { id content turnId messageType confidence
    references { kind node { id } document } } } } }"""
AGENT = {"senderId": "agent-1", "senderType": "AGENT"}


async def test_ingested_messages_take_turns_types_and_references(gql: GraphQLClient) -> None:
    """Without the new fields, turns and types follow sendMessage's rule; with them, as
    given, a turn and references pointing at messages and spans of the same batch."""
    conversation, conversation_id = uid("Conversation")
    ask, ask_id = uid("Message")
    result, result_id = uid("Message")
    trace, trace_id = uid("Trace")
    span, span_id = uid("Span")

    def message(content: str, **more: Any) -> dict[str, Any]:
        return {"message": {"conversationId": conversation_id, "content": content, **more}}

    answer = {
        "messageType": "ANSWER",
        "confidence": 0.75,
        "references": [
            {"messageId": result_id},
            {"spanId": span_id},
            {"document": "https://docs.example.com/w"},
        ],
    }
    results = await ingest(
        gql,
        {"conversation": {"id": conversation, "owner": {"participantId": "user-1"}}},
        message("weather?", id=ask, senderId="user-1"),
        {"trace": {"start": {"id": trace, "conversationId": conversation_id, "name": "run"}}},
        {"span": {"start": {"id": span, "traceId": trace_id, "name": "lookup", "kind": "TOOL"}}},
        message("", role="ASSISTANT", **AGENT, toolCalls=[{"callId": "c", "toolName": "w"}]),
        message("sunny", id=result, role="TOOL", **AGENT),
        message("Sunny.", role="ASSISTANT", **AGENT, **answer),
        message("thanks", senderId="user-1"),
        message("hm", role="ASSISTANT", **AGENT, messageType="THOUGHT", turnId=ask_id),
    )
    assert codes(results) == [None] * 9, results
    read = (await gql.data(KINDS, {"id": conversation_id}))["conversation"]
    nodes = read["messages"]["nodes"]
    thanks = nodes[4]["id"]
    assert [(m["content"], m["turnId"], m["messageType"]) for m in nodes] == [
        ("weather?", ask_id, "TEXT"),
        ("", ask_id, "TOOL_CALL"),
        ("sunny", ask_id, "TOOL_RESULT"),
        ("Sunny.", ask_id, "ANSWER"),
        ("thanks", thanks, "TEXT"),
        ("hm", ask_id, "THOUGHT"),
    ]
    assert [m["confidence"] for m in nodes] == [None, None, None, 0.75, None, None]
    assert nodes[3]["references"] == [
        {"kind": "MESSAGE", "node": {"id": result_id}, "document": None},
        {"kind": "SPAN", "node": {"id": span_id}, "document": None},
        {"kind": "DOCUMENT", "node": None, "document": "https://docs.example.com/w"},
    ]


async def test_bad_kinds_fail_their_item_alone_and_write_nothing(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    elsewhere = (await factories.conversation(gql))["id"]
    foreign = (await factories.message(gql, elsewhere))["id"]
    good = {"conversationId": conversation, "senderId": "user-1", "content": "ok"}
    missing = to_global_id("Message", uuid.uuid4())
    bad: list[dict[str, Any]] = [
        {"confidence": 1.5},
        {"messageType": "RIDDLE"},
        {"turnId": foreign},
        {"references": [{"messageId": foreign}]},
        {"references": [{"messageId": missing}]},
        {"references": [{"document": "https://a.example.com", "spanId": missing}]},
        {"references": [{"document": " "}]},
        {"references": [{"document": "https://a.example.com"}] * 51},
    ]
    batch = [{"clientEventId": f"e{n}", "message": {**good, **b}} for n, b in enumerate(bad)]
    batch.append({"clientEventId": "last", "message": good})
    # An enum value GraphQL does not know fails the whole request, before any item.
    assert await gql.error_code(INGEST, {"batch": batch}) == "BAD_USER_INPUT"
    del batch[1]
    results = (await gql.data(INGEST, {"batch": batch}))["ingest"]
    assert codes(results) == ["BAD_USER_INPUT"] * 3 + ["NOT_FOUND"] + ["BAD_USER_INPUT"] * 3 + [
        None
    ]
    read = (await gql.data(KINDS, {"id": conversation}))["conversation"]
    assert read["messageCount"] == 1
    assert [(m["content"], m["references"]) for m in read["messages"]["nodes"]] == [("ok", [])]


async def test_statements_per_item_do_not_grow_with_references(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    target = (await factories.message(gql, conversation))["id"]

    async def statements(references: int) -> int:
        cited = [{"messageId": target}] * references
        message = {
            "conversationId": conversation,
            "role": "ASSISTANT",
            **AGENT,
            "references": cited,
        }
        batch = [{"clientEventId": f"{references}/{n}", "message": message} for n in range(5)]
        sql.reset()
        results = (await gql.data(INGEST, {"batch": batch}))["ingest"]
        assert codes(results) == [None] * 5
        return sql.count

    plain, one, many = await statements(0), await statements(1), await statements(20)
    # Two statements a message for its references (their targets, then their rows).
    assert (one - plain, many) == (2 * 5, one)
