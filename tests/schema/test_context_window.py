"""contextWindow and setConversationMemory through /graphql.

Token sizes (stored outputTokens, else ceil(characters / 4)):
  preamble: system prompt "You are terse." 4, summary "Earlier: greetings." 5,
            pinned facts "User is Ann" 3 and "Prefers metric" 4 -> 16
  m1 SYSTEM "Be kind." 2          m2 USER "aaaa aaaa" 3
  m3 ASSISTANT "" + a tool call, outputTokens 7 (a bare call: a tool message)
  m4 TOOL "result!!" 2            m5 ASSISTANT "answer one", outputTokens 10
  m6 USER "second question" 4     m8 edit of m6, "other q" 2 (written before m7)
  m7 ASSISTANT "answer two", outputTokens 6, the reply to m6 and the latest message
The latest branch holds m1-m7 (7 messages); m8's, m1-m5 and m8 (6).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient

WINDOW = """
query($c: ID!, $leaf: ID, $n: Int, $budget: Int, $tools: Boolean! = false,
      $system: Boolean! = true) {
  contextWindow(conversationId: $c, branchLeafId: $leaf, lastN: $n, tokenBudget: $budget,
                includeTools: $tools, includeSystem: $system) {
    systemPrompt summary pinnedFacts tokenCount truncated droppedCount truncatedMessageId
    truncatedContent messages { id }
  }
}"""
MEMORY = """
mutation($c: ID!, $summary: String, $facts: [String!]) {
  setConversationMemory(conversationId: $c, summary: $summary, pinnedFacts: $facts) {
    summary pinnedFacts
  }
}"""
EDIT = factories.mutation_document("editMessage", "id")


@dataclass
class Fixture:
    conversation: str
    m: dict[int, str]


@pytest.fixture
async def f(gql: GraphQLClient) -> Fixture:
    conv = await factories.conversation(gql, systemPrompt="You are terse.")
    c = conv["id"]
    await gql.data(
        MEMORY,
        {"c": c, "summary": "Earlier: greetings.", "facts": ["User is Ann", "Prefers metric"]},
    )
    m: dict[int, str] = {}

    async def send(n: int, **input: Any) -> None:
        m[n] = (await factories.message(gql, c, **input))["id"]

    await send(1, role="SYSTEM", senderId="system", content="Be kind.")
    await send(2, content="aaaa aaaa")
    call = {"callId": "c1", "toolName": "search"}
    await send(
        3, role="ASSISTANT", senderId="agent-1", content="", outputTokens=7, toolCalls=[call]
    )
    await send(4, role="TOOL", senderId="agent-1", content="result!!")
    await send(5, role="ASSISTANT", senderId="agent-1", content="answer one", outputTokens=10)
    await send(6, content="second question")
    edit = {"messageId": m[6], "content": "other q"}
    m[8] = (await gql.data(EDIT, {"input": edit}))["editMessage"]["id"]
    await send(
        7,
        role="ASSISTANT",
        senderId="agent-1",
        content="answer two",
        outputTokens=6,
        parentMessageId=m[6],
    )
    return Fixture(c, m)


async def window(gql: GraphQLClient, f: Fixture, **variables: Any) -> Any:
    return (await gql.data(WINDOW, {"c": f.conversation, **variables}))["contextWindow"]


def picked(f: Fixture, found: Any) -> list[int]:
    numbers = {message_id: n for n, message_id in f.m.items()}
    return [numbers[message["id"]] for message in found["messages"]]


async def test_whole_branch_with_the_preamble_first(gql: GraphQLClient, f: Fixture) -> None:
    found = await window(gql, f)
    assert found["systemPrompt"] == "You are terse."
    assert found["summary"] == "Earlier: greetings."
    assert found["pinnedFacts"] == ["User is Ann", "Prefers metric"]
    assert picked(f, found) == [1, 2, 5, 6, 7]
    assert found["tokenCount"] == 16 + 2 + 3 + 10 + 4 + 6
    assert found["truncated"] is False
    assert found["droppedCount"] == 2  # the tool call and its result
    assert (found["truncatedMessageId"], found["truncatedContent"]) == (None, None)
    # The same inputs, the same window.
    assert await window(gql, f) == found


@pytest.mark.parametrize(
    ("variables", "messages", "tokens", "dropped"),
    [
        ({"n": 2}, [6, 7], 16 + 4 + 6, 5),
        ({"budget": 36}, [5, 6, 7], 36, 4),  # 20 left for messages: 6 + 4 + 10 fit exactly
        ({"budget": 35}, [6, 7], 26, 5),  # 19 left: the answer of 10 no longer fits
        ({"budget": 36, "n": 2}, [6, 7], 26, 5),
        # The latest prompt (m6) always in, in the oldest place: the answer no longer
        # fits beside it.
        ({"n": 1}, [6], 16 + 4, 6),
        ({"n": 0}, [6], 16 + 4, 6),
        ({"budget": 16 + 6}, [6], 16 + 4, 6),
    ],
)
async def test_last_n_and_token_budget(
    gql: GraphQLClient, f: Fixture, variables: Any, messages: list[int], tokens: int, dropped: int
) -> None:
    found = await window(gql, f, **variables)
    assert (picked(f, found), found["tokenCount"], found["truncated"]) == (messages, tokens, True)
    assert (found["droppedCount"], found["truncatedMessageId"]) == (dropped, None)


async def test_a_budget_below_the_preamble_keeps_the_prompt_cut_to_nothing(
    gql: GraphQLClient, f: Fixture
) -> None:
    found = await window(gql, f, budget=10)
    assert (picked(f, found), found["tokenCount"], found["truncated"]) == ([6], 16, True)
    assert (found["truncatedMessageId"], found["truncatedContent"]) == (f.m[6], "")
    assert found["droppedCount"] == 6


async def test_tools_and_system_on_request(gql: GraphQLClient, f: Fixture) -> None:
    with_tools = await window(gql, f, tools=True)
    assert picked(f, with_tools) == [1, 2, 3, 4, 5, 6, 7]
    assert with_tools["tokenCount"] == 16 + 2 + 3 + 7 + 2 + 10 + 4 + 6
    without_system = await window(gql, f, system=False)
    assert without_system["systemPrompt"] is None
    assert picked(f, without_system) == [2, 5, 6, 7]
    assert without_system["tokenCount"] == 12 + 3 + 10 + 4 + 6
    assert (with_tools["droppedCount"], without_system["droppedCount"]) == (0, 3)


@pytest.mark.parametrize(
    ("variables", "messages", "tokens", "dropped"),
    [
        # m4, the result of m3's call, would open the window: it goes with its call.
        ({"n": 4}, [5, 6, 7], 16 + 10 + 4 + 6, 4),
        ({"budget": 16 + 22}, [5, 6, 7], 16 + 10 + 4 + 6, 4),
        # Call and result both in, or neither: the prompt m2 alone.
        ({"leaf": "m4", "n": 2}, [2], 16 + 3, 3),
        ({"leaf": "m4", "n": 3}, [2, 3, 4], 16 + 3 + 7 + 2, 1),
    ],
)
async def test_a_tool_result_never_opens_the_window_without_its_call(
    gql: GraphQLClient, f: Fixture, variables: Any, messages: list[int], tokens: int, dropped: int
) -> None:
    if "leaf" in variables:
        variables = {**variables, "leaf": f.m[4]}
    found = await window(gql, f, tools=True, **variables)
    assert (picked(f, found), found["tokenCount"], found["truncated"]) == (messages, tokens, True)
    assert found["droppedCount"] == dropped


async def test_another_branch(gql: GraphQLClient, f: Fixture) -> None:
    found = await window(gql, f, leaf=f.m[8])
    assert picked(f, found) == [1, 2, 5, 8]
    assert found["tokenCount"] == 16 + 2 + 3 + 10 + 2
    assert (found["truncated"], found["droppedCount"]) == (False, 2)
    latest = await window(gql, f, leaf=f.m[8], n=1)
    assert (picked(f, latest), latest["droppedCount"]) == ([8], 5)


async def test_memory_changes_only_what_is_given(gql: GraphQLClient, f: Fixture) -> None:
    changed = await gql.data(MEMORY, {"c": f.conversation, "facts": []})
    assert changed["setConversationMemory"] == {"summary": "Earlier: greetings.", "pinnedFacts": []}
    query = "query($c: ID!) { conversation(id: $c) { summary pinnedFacts } }"
    cleared = await gql.data(
        "mutation($c: ID!) { setConversationMemory(conversationId: $c, summary: null) { id } }",
        {"c": f.conversation},
    )
    assert cleared["setConversationMemory"]["id"] == f.conversation
    found = (await gql.data(query, {"c": f.conversation}))["conversation"]
    assert found == {"summary": None, "pinnedFacts": []}
    assert (await window(gql, f))["tokenCount"] == 4 + 2 + 3 + 10 + 4 + 6


async def test_bad_input(gql: GraphQLClient, f: Fixture) -> None:
    other = await factories.conversation(gql)
    elsewhere = (await factories.message(gql, other["id"]))["id"]
    for variables, code in (
        ({"n": -1}, "BAD_USER_INPUT"),
        ({"budget": -5}, "BAD_USER_INPUT"),
        ({"leaf": elsewhere}, "BAD_USER_INPUT"),
        ({"c": elsewhere}, "BAD_USER_INPUT"),
    ):
        assert await gql.error_code(WINDOW, {"c": f.conversation, **variables}) == code
    gone = to_global_id("Conversation", uuid.uuid4())
    assert await gql.error_code(WINDOW, {"c": gone}) == "NOT_FOUND"
    for variables in ({"facts": None}, {"facts": [" "]}, {}):
        memory = {"c": f.conversation, **variables}
        assert await gql.error_code(MEMORY, memory) == "BAD_USER_INPUT"
