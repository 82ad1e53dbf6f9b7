"""Messages, branches and tool calls through /graphql."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from resolvers.ids import from_global_id, to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient

ROLL_UPS = "messageCount inputTokens outputTokens totalTokens cost lastActivityAt"
MESSAGES = """query($c: ID!, $branch: ID, $all: Boolean! = false, $first: Int, $after: String,
               $last: Int, $before: String) {
  conversation(id: $c) {
    messages(branch: $branch, allBranches: $all, first: $first, after: $after,
             last: $last, before: $before) {
      totalCount
      edges { cursor node { id } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}"""


async def roll_ups(gql: GraphQLClient, conversation_id: str) -> dict[str, Any]:
    data = await gql.data(
        f"query($c: ID!) {{ conversation(id: $c) {{ {ROLL_UPS} }} }}", {"c": conversation_id}
    )
    conversation: dict[str, Any] = data["conversation"]
    return conversation


async def messages(gql: GraphQLClient, conversation_id: str, **args: Any) -> dict[str, Any]:
    data = await gql.data(MESSAGES, {"c": conversation_id, **args})
    connection: dict[str, Any] = data["conversation"]["messages"]
    return connection


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def chain(gql: GraphQLClient, conversation_id: str, count: int) -> list[str]:
    """`count` messages, each a reply to the one before."""
    return [
        (await factories.message(gql, conversation_id, content=f"m{i}"))["id"] for i in range(count)
    ]


async def edit(gql: GraphQLClient, message_id: str, fields: str = "id", **input: Any) -> Any:
    input.setdefault("content", "edited")
    return await factories.mutate(gql, "editMessage", {"messageId": message_id, **input}, fields)


def raw(global_id: str) -> str:
    return str(from_global_id(global_id)[1])


# --- sendMessage ------------------------------------------------------------------


async def test_messages_are_numbered_and_reply_to_the_latest_by_default(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    sent = [
        await factories.message(gql, conv["id"], "id seq content parent { id }", content=f"m{i}")
        for i in range(3)
    ]
    assert [m["seq"] for m in sent] == [1, 2, 3]
    assert [m["content"] for m in sent] == ["m0", "m1", "m2"]
    assert [m["parent"] for m in sent] == [None, {"id": sent[0]["id"]}, {"id": sent[1]["id"]}]


async def test_explicit_parent_branches_and_null_parent_starts_a_new_root(
    gql: GraphQLClient,
) -> None:
    conv = await factories.conversation(gql)
    first, second = await chain(gql, conv["id"], 2)
    branch = await factories.message(
        gql, conv["id"], "id seq parent { id }", parentMessageId=first, content="other reply"
    )
    assert branch["seq"] == 3
    assert branch["parent"] == {"id": first}
    children = await gql.data(
        "query($m: ID!) { message(id: $m) { children { id } } }", {"m": first}
    )
    assert children["message"]["children"] == [{"id": second}, {"id": branch["id"]}]

    root = await factories.message(gql, conv["id"], "id seq parent { id }", parentMessageId=None)
    assert root["seq"] == 4
    assert root["parent"] is None
    latest_branch = await messages(gql, conv["id"])
    assert ids(latest_branch) == [root["id"]]
    assert latest_branch["totalCount"] == 1
    assert (await roll_ups(gql, conv["id"]))["messageCount"] == 4


async def test_tool_calls_are_kept_in_order_with_their_arguments(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    calls = [
        {
            "callId": "call-b",
            "toolName": "search",
            "arguments": {"q": "paris", "limit": 3},
            "status": "COMPLETED",
            "result": {"hits": ["a", "b"]},
            "startedAt": "2024-05-01T10:00:00+00:00",
            "endedAt": "2024-05-01T10:00:02+00:00",
        },
        {"callId": "call-a", "toolName": "weather", "arguments": {"city": "Paris"}},
        {
            "callId": "call-c",
            "toolName": "book",
            "status": "FAILED",
            "error": "no seats",
        },
    ]
    fields = """id toolCalls { id callId toolName position arguments result status error
                startedAt endedAt message { id } span { id } }"""
    sent = await factories.message(
        gql, conv["id"], fields, role="ASSISTANT", senderId="agent-1", toolCalls=calls
    )
    got = sent["toolCalls"]
    assert [c["callId"] for c in got] == ["call-b", "call-a", "call-c"]
    assert [c["position"] for c in got] == [0, 1, 2]
    assert [c["toolName"] for c in got] == ["search", "weather", "book"]
    assert [c["arguments"] for c in got] == [{"q": "paris", "limit": 3}, {"city": "Paris"}, {}]
    assert [c["status"] for c in got] == ["COMPLETED", "PENDING", "FAILED"]
    assert got[0]["result"] == {"hits": ["a", "b"]}
    assert got[1]["result"] is None
    assert got[2]["error"] == "no seats"
    started, ended = (datetime.fromisoformat(got[0][k]) for k in ("startedAt", "endedAt"))
    assert ended - started == timedelta(seconds=2)
    assert got[1]["startedAt"] is None
    assert {c["message"]["id"] for c in got} == {sent["id"]}
    assert [c["span"] for c in got] == [None, None, None]
    read_back = await gql.data(
        "query($m: ID!) { message(id: $m) { toolCalls { id callId } } }", {"m": sent["id"]}
    )
    assert read_back["message"]["toolCalls"] == [
        {"id": c["id"], "callId": c["callId"]} for c in got
    ]


async def test_tool_call_can_point_at_an_existing_span(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    trace = await factories.trace(gql, conv["id"])
    span = await factories.span(gql, trace["id"], kind="TOOL")
    sent = await factories.message(
        gql,
        conv["id"],
        "toolCalls { span { id } }",
        toolCalls=[{"callId": "c1", "toolName": "t", "spanId": span["id"]}],
    )
    assert sent["toolCalls"] == [{"span": {"id": span["id"]}}]


async def test_total_tokens_defaults_to_input_plus_output(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    fields = "inputTokens outputTokens totalTokens"
    default = await factories.message(gql, conv["id"], fields, inputTokens=10, outputTokens=5)
    assert default == {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}
    explicit = await factories.message(
        gql, conv["id"], fields, inputTokens=10, outputTokens=5, totalTokens=40
    )
    assert explicit["totalTokens"] == 40
    totals = await roll_ups(gql, conv["id"])
    assert (totals["inputTokens"], totals["outputTokens"], totals["totalTokens"]) == (20, 10, 55)


async def test_conversation_roll_ups_follow_each_message(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql, f"id {ROLL_UPS}")
    assert conv["messageCount"] == 0
    assert conv["cost"] == 0
    await factories.message(gql, conv["id"], inputTokens=100, outputTokens=20, cost=0.25)
    after_one = await roll_ups(gql, conv["id"])
    assert {k: v for k, v in after_one.items() if k != "lastActivityAt"} == {
        "messageCount": 1,
        "inputTokens": 100,
        "outputTokens": 20,
        "totalTokens": 120,
        "cost": 0.25,
    }
    await factories.message(
        gql, conv["id"], role="ASSISTANT", inputTokens=7, outputTokens=3, totalTokens=11, cost=0.5
    )
    after_two = await roll_ups(gql, conv["id"])
    assert {k: v for k, v in after_two.items() if k != "lastActivityAt"} == {
        "messageCount": 2,
        "inputTokens": 107,
        "outputTokens": 23,
        "totalTokens": 131,
        "cost": 0.75,
    }
    activity = [datetime.fromisoformat(c["lastActivityAt"]) for c in (conv, after_one, after_two)]
    assert activity[0] < activity[1] < activity[2]


# --- editMessage and branches -------------------------------------------------------


async def test_edit_writes_a_sibling_and_the_default_branch_follows_it(
    gql: GraphQLClient,
) -> None:
    conv = await factories.conversation(gql)
    question = (await factories.message(gql, conv["id"], content="q"))["id"]
    answer = (
        await factories.message(
            gql, conv["id"], content="a", role="ASSISTANT", senderId="agent-1", senderType="AGENT"
        )
    )["id"]
    old_leaf = (await factories.message(gql, conv["id"], content="follow-up"))["id"]

    edited = await edit(
        gql,
        old_leaf,
        "id seq content senderId role parent { id } metadata",
        content="better follow-up",
        metadata={"reason": "typo"},
    )
    assert edited["id"] != old_leaf
    assert edited["seq"] == 4
    assert edited["content"] == "better follow-up"
    assert (edited["senderId"], edited["role"]) == ("user-1", "USER")
    assert edited["parent"] == {"id": answer}
    assert edited["metadata"] == {"reason": "typo", "editedFrom": old_leaf}

    original = await gql.data(
        "query($m: ID!) { message(id: $m) { content parent { id children { id } } } }",
        {"m": old_leaf},
    )
    assert original["message"]["content"] == "follow-up"
    assert original["message"]["parent"]["children"] == [{"id": old_leaf}, {"id": edited["id"]}]

    latest = await messages(gql, conv["id"])
    assert ids(latest) == [question, answer, edited["id"]]
    assert latest["totalCount"] == 3
    old = await messages(gql, conv["id"], branch=old_leaf)
    assert ids(old) == [question, answer, old_leaf]
    assert old["totalCount"] == 3
    everything = await messages(gql, conv["id"], all=True)
    assert ids(everything) == [question, answer, old_leaf, edited["id"]]
    assert everything["totalCount"] == 4
    assert (await roll_ups(gql, conv["id"]))["messageCount"] == 4

    # The next message replies to the edit, the latest leaf.
    reply = await factories.message(gql, conv["id"], "id parent { id }", role="ASSISTANT")
    assert reply["parent"] == {"id": edited["id"]}
    latest = await messages(gql, conv["id"])
    assert ids(latest) == [question, answer, edited["id"], reply["id"]]
    assert (await messages(gql, conv["id"], branch=old_leaf))["totalCount"] == 3


async def test_editing_a_root_message_makes_a_second_root(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    root, _ = await chain(gql, conv["id"], 2)
    edited = await edit(gql, root, "id parent { id }")
    assert edited["parent"] is None
    assert ids(await messages(gql, conv["id"])) == [edited["id"]]
    assert (await messages(gql, conv["id"], all=True))["totalCount"] == 3


async def test_branch_argument_must_be_a_message_of_this_conversation(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    other = await factories.conversation(gql)
    foreign = (await factories.message(gql, other["id"]))["id"]
    await factories.message(gql, conv["id"])
    assert await gql.error_code(MESSAGES, {"c": conv["id"], "branch": foreign}) == "BAD_USER_INPUT"
    missing = to_global_id("Message", uuid.uuid4())
    assert await gql.error_code(MESSAGES, {"c": conv["id"], "branch": missing}) == "NOT_FOUND"
    assert await gql.error_code(MESSAGES, {"c": conv["id"], "branch": conv["id"]}) == (
        "BAD_USER_INPUT"
    )


async def test_last_message_is_the_latest_on_any_branch(gql: GraphQLClient) -> None:
    query = "query($c: ID!) { conversation(id: $c) { lastMessage { id content } } }"
    conv = await factories.conversation(gql)
    assert (await gql.data(query, {"c": conv["id"]}))["conversation"]["lastMessage"] is None
    first, second = await chain(gql, conv["id"], 2)
    last = (await gql.data(query, {"c": conv["id"]}))["conversation"]["lastMessage"]
    assert last == {"id": second, "content": "m1"}
    edited = await edit(gql, first, "id", content="new first")
    last = (await gql.data(query, {"c": conv["id"]}))["conversation"]["lastMessage"]
    assert last == {"id": edited["id"], "content": "new first"}


async def test_message_links_to_conversation_parent_children_and_tool_calls(
    gql: GraphQLClient,
) -> None:
    conv = await factories.conversation(gql)
    parent = await factories.message(gql, conv["id"])
    child = await factories.message(
        gql, conv["id"], toolCalls=[{"callId": "x", "toolName": "calc", "arguments": {"a": 1}}]
    )
    data = await gql.data(
        """query($m: ID!) { message(id: $m) {
             conversation { id messageCount }
             parent { id parent { id } children { id } }
             children { id }
             toolCalls { callId toolName arguments message { id } } } }""",
        {"m": child["id"]},
    )
    found = data["message"]
    assert found["conversation"] == {"id": conv["id"], "messageCount": 2}
    assert found["parent"] == {
        "id": parent["id"],
        "parent": None,
        "children": [{"id": child["id"]}],
    }
    assert found["children"] == []
    assert found["toolCalls"] == [
        {"callId": "x", "toolName": "calc", "arguments": {"a": 1}, "message": {"id": child["id"]}}
    ]


# --- client ids -----------------------------------------------------------------------


async def test_client_id_makes_a_retried_send_return_the_same_message(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    client_id = str(uuid.uuid4())
    fields = "id seq content totalTokens"
    first = await factories.message(
        gql, conv["id"], fields, id=client_id, inputTokens=3, outputTokens=4, cost=0.5
    )
    assert raw(first["id"]) == client_id
    again = await factories.message(
        gql, conv["id"], fields, id=client_id, inputTokens=3, outputTokens=4, cost=0.5
    )
    assert again == first
    totals = await roll_ups(gql, conv["id"])
    assert (totals["messageCount"], totals["totalTokens"], totals["cost"]) == (1, 7, 0.5)
    assert ids(await messages(gql, conv["id"], all=True)) == [first["id"]]

    other = await factories.conversation(gql)
    doc = factories.mutation_document("sendMessage", "id")
    stolen = {"conversationId": other["id"], "senderId": "user-1", "id": client_id}
    assert await gql.error_code(doc, {"input": stolen}) == "CONFLICT"
    assert (await roll_ups(gql, other["id"]))["messageCount"] == 0


async def test_client_id_makes_a_retried_edit_return_the_same_message(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    (original,) = await chain(gql, conv["id"], 1)
    client_id = str(uuid.uuid4())
    first = await edit(gql, original, "id seq", id=client_id)
    again = await edit(gql, original, "id seq", id=client_id)
    assert again == first == {"id": to_global_id("Message", client_id), "seq": 2}
    assert (await roll_ups(gql, conv["id"]))["messageCount"] == 2


# --- rejected input ---------------------------------------------------------------------


@dataclass
class World:
    conversation: str
    message: str
    other_message: str


Case = Callable[[World], dict[str, Any]]
LATE_CALL = {
    "callId": "c",
    "toolName": "t",
    "startedAt": "2024-05-01T10:00:05+00:00",
    "endedAt": "2024-05-01T10:00:00+00:00",
}


def missing(type_name: str) -> str:
    return to_global_id(type_name, uuid.uuid4())


@pytest.mark.parametrize(
    ("case", "code"),
    [
        pytest.param(lambda w: {"inputTokens": -1}, "BAD_USER_INPUT", id="negative-input-tokens"),
        pytest.param(lambda w: {"outputTokens": -1}, "BAD_USER_INPUT", id="negative-output"),
        pytest.param(lambda w: {"totalTokens": -1}, "BAD_USER_INPUT", id="negative-total"),
        pytest.param(lambda w: {"cost": -0.01}, "BAD_USER_INPUT", id="negative-cost"),
        pytest.param(lambda w: {"latencyMs": -5}, "BAD_USER_INPUT", id="negative-latency"),
        pytest.param(lambda w: {"temperature": 2.5}, "BAD_USER_INPUT", id="temperature"),
        pytest.param(lambda w: {"parts": [{"text": "hi"}]}, "BAD_USER_INPUT", id="part-no-type"),
        pytest.param(lambda w: {"parts": [{"type": "video"}]}, "BAD_USER_INPUT", id="part-type"),
        pytest.param(lambda w: {"parts": ["hi"]}, "BAD_USER_INPUT", id="part-not-object"),
        pytest.param(lambda w: {"attachments": [1]}, "BAD_USER_INPUT", id="attachment"),
        pytest.param(lambda w: {"metadata": ["x"]}, "BAD_USER_INPUT", id="metadata-list"),
        pytest.param(lambda w: {"metadata": "x"}, "BAD_USER_INPUT", id="metadata-string"),
        pytest.param(lambda w: {"senderId": "  "}, "BAD_USER_INPUT", id="blank-sender"),
        pytest.param(
            lambda w: {"toolCalls": [{"callId": "c", "toolName": "a"}] * 2},
            "BAD_USER_INPUT",
            id="duplicate-call-id",
        ),
        pytest.param(lambda w: {"toolCalls": [LATE_CALL]}, "BAD_USER_INPUT", id="call-ends-early"),
        pytest.param(
            lambda w: {"toolCalls": [{"callId": "c", "toolName": "t", "arguments": [1]}]},
            "BAD_USER_INPUT",
            id="call-arguments",
        ),
        pytest.param(
            lambda w: {"parentMessageId": w.other_message}, "BAD_USER_INPUT", id="foreign-parent"
        ),
        pytest.param(
            lambda w: {"parentMessageId": missing("Message")}, "NOT_FOUND", id="unknown-parent"
        ),
        pytest.param(lambda w: {"parentMessageId": "garbage"}, "BAD_USER_INPUT", id="bad-parent"),
        pytest.param(
            lambda w: {"conversationId": missing("Conversation")}, "NOT_FOUND", id="unknown-conv"
        ),
        pytest.param(
            lambda w: {"conversationId": w.message}, "BAD_USER_INPUT", id="message-as-conv"
        ),
        pytest.param(lambda w: {"conversationId": "garbage"}, "BAD_USER_INPUT", id="bad-conv"),
        pytest.param(lambda w: {"id": "not-a-uuid"}, "BAD_USER_INPUT", id="bad-client-id"),
        pytest.param(
            lambda w: {"toolCalls": [{"callId": "c", "toolName": "t", "spanId": missing("Span")}]},
            "NOT_FOUND",
            id="unknown-span",
        ),
        pytest.param(
            lambda w: {"toolCalls": [{"callId": "c", "toolName": "t", "spanId": w.message}]},
            "BAD_USER_INPUT",
            id="message-as-span",
        ),
    ],
)
async def test_send_rejects_bad_input_and_writes_nothing(
    gql: GraphQLClient, case: Case, code: str
) -> None:
    conv = await factories.conversation(gql)
    other = await factories.conversation(gql)
    message = (await factories.message(gql, conv["id"], inputTokens=2))["id"]
    other_message = (await factories.message(gql, other["id"]))["id"]
    before = await roll_ups(gql, conv["id"])
    world = World(conv["id"], message, other_message)
    input = {"conversationId": conv["id"], "senderId": "user-1", "inputTokens": 1, **case(world)}
    error = await gql.error(factories.mutation_document("sendMessage", "id"), {"input": input})
    assert error["extensions"]["code"] == code, error
    assert await roll_ups(gql, conv["id"]) == before
    assert (await roll_ups(gql, other["id"]))["messageCount"] == 1
    assert ids(await messages(gql, conv["id"], all=True)) == [message]


async def test_closed_conversation_takes_no_messages_or_edits(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    (message,) = await chain(gql, conv["id"], 1)
    await gql.data("mutation($c: ID!) { closeConversation(id: $c) { id } }", {"c": conv["id"]})
    send = factories.mutation_document("sendMessage", "id")
    input = {"conversationId": conv["id"], "senderId": "user-1"}
    assert await gql.error_code(send, {"input": input}) == "CONFLICT"
    edit_doc = factories.mutation_document("editMessage", "id")
    assert await gql.error_code(edit_doc, {"input": {"messageId": message}}) == "CONFLICT"
    assert (await roll_ups(gql, conv["id"]))["messageCount"] == 1


@pytest.mark.parametrize(
    ("input", "code"),
    [
        ({"messageId": to_global_id("Message", uuid.uuid4())}, "NOT_FOUND"),
        ({"messageId": "garbage"}, "BAD_USER_INPUT"),
        ({"cost": -1}, "BAD_USER_INPUT"),
        ({"temperature": 2.5}, "BAD_USER_INPUT"),
        ({"metadata": [1]}, "BAD_USER_INPUT"),
    ],
)
async def test_edit_rejects_bad_input_and_writes_nothing(
    gql: GraphQLClient, input: dict[str, Any], code: str
) -> None:
    conv = await factories.conversation(gql)
    (message,) = await chain(gql, conv["id"], 1)
    before = await roll_ups(gql, conv["id"])
    doc = factories.mutation_document("editMessage", "id")
    assert await gql.error_code(doc, {"input": {"messageId": message, **input}}) == code
    assert await roll_ups(gql, conv["id"]) == before
    assert ids(await messages(gql, conv["id"], all=True)) == [message]


# --- pagination --------------------------------------------------------------------


async def test_pages_through_a_branch_forwards_and_backwards(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    m = await chain(gql, conv["id"], 4)
    edited = await edit(gql, m[3], "id")
    last = await factories.message(gql, conv["id"])
    branch = [*m[:3], edited["id"], last["id"]]  # m[3] is on the other branch
    assert (await messages(gql, conv["id"], all=True))["totalCount"] == 6

    page = await messages(gql, conv["id"], first=2)
    assert ids(page) == branch[:2]
    assert page["totalCount"] == 5
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
    page = await messages(gql, conv["id"], first=2, after=page["pageInfo"]["endCursor"])
    assert ids(page) == branch[2:4]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is True
    page = await messages(gql, conv["id"], first=2, after=page["pageInfo"]["endCursor"])
    assert ids(page) == branch[4:]
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["totalCount"] == 5

    page = await messages(gql, conv["id"], last=2)
    assert ids(page) == branch[3:]
    assert page["pageInfo"]["hasPreviousPage"] is True
    assert page["pageInfo"]["hasNextPage"] is False
    page = await messages(gql, conv["id"], last=2, before=page["pageInfo"]["startCursor"])
    assert ids(page) == branch[1:3]
    assert page["pageInfo"]["hasPreviousPage"] is True
    assert page["pageInfo"]["hasNextPage"] is True
    page = await messages(gql, conv["id"], last=2, before=page["pageInfo"]["startCursor"])
    assert ids(page) == branch[:1]
    assert page["pageInfo"]["hasPreviousPage"] is False

    old = await messages(gql, conv["id"], branch=m[3], first=3)
    assert ids(old) == m[:3]
    old = await messages(gql, conv["id"], branch=m[3], first=3, after=old["pageInfo"]["endCursor"])
    assert ids(old) == m[3:]
    assert old["pageInfo"]["hasNextPage"] is False


async def test_page_size_is_limited(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    await chain(gql, conv["id"], 1)
    assert len(ids(await messages(gql, conv["id"], first=500))) == 1
    for args in ({"first": 501}, {"last": 501}, {"first": -1}, {"first": 1, "last": 1}):
        assert await gql.error_code(MESSAGES, {"c": conv["id"], **args}) == "BAD_USER_INPUT", args
    all_args = {"c": conv["id"], "all": True, "first": 501}
    assert await gql.error_code(MESSAGES, all_args) == "BAD_USER_INPUT"
    assert await gql.error_code(MESSAGES, {"c": conv["id"], "after": "nonsense"}) == (
        "BAD_USER_INPUT"
    )


async def test_tool_call_span_from_another_conversation_is_rejected(gql: GraphQLClient) -> None:
    elsewhere = await factories.conversation(gql)
    trace = await factories.trace(gql, elsewhere["id"])
    span = await factories.span(gql, trace["id"])
    conv = await factories.conversation(gql)
    calls = [{"callId": "c1", "toolName": "t", "spanId": span["id"]}]
    doc = factories.mutation_document("sendMessage", "id")
    payload = {"conversationId": conv["id"], "senderId": "u", "toolCalls": calls}
    assert await gql.error_code(doc, {"input": payload}) == "BAD_USER_INPUT"


@pytest.mark.parametrize("field", ["inputTokens", "outputTokens", "totalTokens"])
async def test_token_counts_above_the_limit_are_rejected(gql: GraphQLClient, field: str) -> None:
    conv = await factories.conversation(gql)
    doc = factories.mutation_document("sendMessage", "id")
    payload = {"conversationId": conv["id"], "senderId": "u", field: 10_000_001}
    assert await gql.error_code(doc, {"input": payload}) == "BAD_USER_INPUT"
    read = "query($c: ID!) { conversation(id: $c) { messageCount totalTokens } }"
    found = await gql.data(read, {"c": conv["id"]})
    assert found["conversation"] == {"messageCount": 0, "totalTokens": 0}


async def test_two_tool_calls_with_one_client_id_are_rejected(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    same = "8c0b7c8e-1f7e-4f55-9d3f-3c1c8f0f7a11"
    calls = [
        {"id": same, "callId": "a", "toolName": "t"},
        {"id": same, "callId": "b", "toolName": "t"},
    ]
    doc = factories.mutation_document("sendMessage", "id")
    payload = {"conversationId": conv["id"], "senderId": "u", "toolCalls": calls}
    assert await gql.error_code(doc, {"input": payload}) == "BAD_USER_INPUT"
