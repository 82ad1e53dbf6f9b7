"""Pages and context windows of a long conversation with branches, against the branch
worked out from what was written; and statement counts that do not grow with it.

resolvers/branches.py walks a branch from its leaf and stops early: these hold that the
early stops never change an answer, forwards, backwards, between cursors, on the latest
branch and on an older one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient

PAGE = """query($c: ID!, $branch: ID, $first: Int, $after: String, $last: Int, $before: String) {
  conversation(id: $c) {
    messages(branch: $branch, first: $first, after: $after, last: $last, before: $before) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id }
    }
  }
}"""
WINDOW = """query($c: ID!, $leaf: ID, $n: Int, $budget: Int, $tools: Boolean!, $system: Boolean!) {
  contextWindow(conversationId: $c, branchLeafId: $leaf, lastN: $n, tokenBudget: $budget,
                includeTools: $tools, includeSystem: $system) {
    tokenCount truncated droppedCount truncatedContent messages { id }
  }
}"""
SYSTEM_PROMPT = "You are terse."  # 4 tokens of preamble when the system is included
MAX_PAGE_SIZE = 500


@dataclass
class Written:
    id: str
    parent: str | None
    role: str
    content: str
    output_tokens: int
    bare_call: bool


@dataclass
class Conversation:
    id: str
    messages: dict[str, Written]
    latest: str

    def branch(self, leaf: str | None = None) -> list[Written]:
        """Root first, as worked out from the parents the messages were written with."""
        found = []
        step: str | None = leaf or self.latest
        while step is not None:
            found.append(self.messages[step])
            step = self.messages[step].parent
        return found[::-1]

    def side_leaf(self) -> str:
        """The latest message off the latest branch."""
        on_latest = {m.id for m in self.branch()}
        return next(i for i in reversed(self.messages) if i not in on_latest)


def drawn_input(rng: random.Random, n: int) -> dict[str, Any]:
    """The n-th message: users ask, assistants answer (now and then with a bare tool
    call, then a tool result), and a system note from time to time."""
    if n % 31 == 5:
        return {"role": "SYSTEM", "senderId": "system", "content": f"note {n}"}
    if n % 2 == 0:
        return {"content": "question " * rng.randrange(1, 6)}
    if rng.random() < 0.15:
        call = {"callId": f"call-{n}", "toolName": "search"}
        return {"role": "ASSISTANT", "senderId": "agent-1", "content": "", "toolCalls": [call]}
    if rng.random() < 0.1:
        return {"role": "TOOL", "senderId": "agent-1", "content": f"result {n}"}
    tokens = rng.choice([0, rng.randrange(1, 40)])
    return {"role": "ASSISTANT", "senderId": "agent-1", "content": "answer", "outputTokens": tokens}


async def long_conversation(gql: GraphQLClient, count: int, seed: int = 22) -> Conversation:
    """`count` messages, each replying to the latest, but one in 13 replying to one of the
    few before it (as an edit or a retry does): a branch leaves the others behind."""
    rng = random.Random(seed)
    conversation_id = (await factories.conversation(gql, systemPrompt=SYSTEM_PROMPT))["id"]
    written: dict[str, Written] = {}
    latest: str | None = None
    for n in range(count):
        input = drawn_input(rng, n)
        parent = latest
        if written and n % 13 == 0:
            parent = list(written)[-rng.randrange(2, 6)]
            input["parentMessageId"] = parent
        message_id = (await factories.message(gql, conversation_id, **input))["id"]
        written[message_id] = Written(
            message_id,
            parent,
            input.get("role", "USER"),
            input["content"],
            input.get("outputTokens", 0),
            "toolCalls" in input,
        )
        latest = message_id
    assert latest is not None
    return Conversation(conversation_id, written, latest)


async def page_of(gql: GraphQLClient, variables: dict[str, Any]) -> Any:
    return (await gql.data(PAGE, variables))["conversation"]["messages"]


# (size argument, cursor argument, "more" flag, cursor of pageInfo), by direction.
FROM_ROOT = ("first", "after", "hasNextPage", "endCursor")
FROM_LEAF = ("last", "before", "hasPreviousPage", "startCursor")


async def read_whole(
    gql: GraphQLClient, variables: dict[str, Any], size: int, *, backward: bool
) -> list[str]:
    """The branch read page by page, from its root or from its leaf (tests/paging.py does
    it for root lists)."""
    size_argument, cursor_argument, more, cursor = FROM_LEAF if backward else FROM_ROOT
    ids: list[str] = []
    info: dict[str, Any] = {more: True, cursor: None}
    while info[more]:
        page = await page_of(gql, {**variables, size_argument: size, cursor_argument: info[cursor]})
        found = [node["id"] for node in page["nodes"]]
        ids = found + ids if backward else ids + found
        info = page["pageInfo"]
    return ids


@pytest.fixture
async def conversation(gql: GraphQLClient) -> Conversation:
    return await long_conversation(gql, 240)


async def test_pages_of_a_long_branched_conversation(
    gql: GraphQLClient, conversation: Conversation
) -> None:
    for leaf in (None, conversation.side_leaf()):
        expected = [m.id for m in conversation.branch(leaf)]
        assert len(expected) < len(conversation.messages)
        variables = {"c": conversation.id, "branch": leaf}
        for size in (1, 7, 50):
            assert await read_whole(gql, variables, size, backward=False) == expected
            assert await read_whole(gql, variables, size, backward=True) == expected
        whole = await page_of(gql, {**variables, "first": MAX_PAGE_SIZE})
        assert whole["totalCount"] == len(expected)


async def test_pages_between_two_cursors(gql: GraphQLClient, conversation: Conversation) -> None:
    expected = [m.id for m in conversation.branch()]
    assert len(expected) > 100
    low = (await page_of(gql, {"c": conversation.id, "first": 30}))["pageInfo"]["endCursor"]
    high = (await page_of(gql, {"c": conversation.id, "first": 90}))["pageInfo"]["endCursor"]
    between = {"c": conversation.id, "after": low, "before": high}
    for args, ids, more in (
        ({"first": 10}, expected[30:40], (True, True)),
        ({"last": 10}, expected[79:89], (True, True)),
        ({"first": 100}, expected[30:89], (True, False)),
        ({"last": 100}, expected[30:89], (False, True)),
    ):
        found = await page_of(gql, {**between, **args})
        assert [node["id"] for node in found["nodes"]] == ids, args
        info = found["pageInfo"]
        assert (info["hasPreviousPage"], info["hasNextPage"]) == more, args


def window_of(
    conversation: Conversation,
    leaf: str | None,
    last_n: int | None,
    budget: int | None,
    tools: bool,
    system: bool,
) -> tuple[list[str], int, bool, str | None]:
    """The window worked out in Python: the eligible messages from the newest back, while
    they are at most `last_n` (10 with neither limit) and their tokens fit the budget
    (4,000 with neither) after the preamble; then the latest USER message in the oldest
    place if they left it out (cut to its end if it alone does not fit), and no TOOL
    message opening the window. With the text kept of a cut prompt."""

    def eligible(m: Written) -> bool:
        if not system and m.role == "SYSTEM":
            return False
        return tools or (m.role != "TOOL" and not (m.bare_call and not m.content.strip()))

    def tokens(m: Written) -> int:
        return m.output_tokens if m.output_tokens > 0 else -(-len(m.content) // 4)

    def fitting(limit: int | None, room: int | None) -> list[Written]:
        """The newest candidates within `limit` messages and `room` tokens, oldest first."""
        kept: list[Written] = []
        for m in candidates:
            running = sum(tokens(k) for k in kept) + tokens(m)
            if (limit is not None and len(kept) + 1 > limit) or (
                room is not None and running > room
            ):
                break
            kept.append(m)
        return kept[::-1]

    def paired(rows: list[Written]) -> list[Written]:
        while rows and rows[0].role == "TOOL":
            rows = rows[1:]
        return rows

    preamble = 4 if system else 0
    if last_n is None and budget is None:
        last_n, budget = 10, 4000
    room = None if budget is None else max(budget - preamble, 0)
    candidates = [m for m in reversed(conversation.branch(leaf)) if eligible(m)]
    kept = fitting(last_n, room)
    prompt = next((m for m in candidates if m.role == "USER"), None)
    if prompt is None or prompt in kept:
        rows = paired(kept)
        total = preamble + sum(tokens(m) for m in rows)
        return [m.id for m in rows], total, len(rows) < len(candidates), None
    if room is not None and tokens(prompt) > room:
        cut = prompt.content[max(len(prompt.content) - room * 4, 0) :]
        return [prompt.id], preamble - (-len(cut) // 4), True, cut
    beside = fitting(
        None if last_n is None else last_n - 1, None if room is None else room - tokens(prompt)
    )
    rows = [prompt, *paired(beside)]
    return [m.id for m in rows], preamble + sum(tokens(m) for m in rows), True, None


async def test_context_windows_of_a_long_branched_conversation(
    gql: GraphQLClient, conversation: Conversation
) -> None:
    written = list(conversation.messages)
    for leaf in (None, conversation.side_leaf()):
        branch = conversation.branch(leaf)
        limits = ((None, None), (0, None), (20, None), (None, 60), (30, 100), (None, 5))
        for last_n, budget in limits:
            for tools, system in ((False, True), (True, False)):
                variables = {
                    "c": conversation.id,
                    "leaf": leaf,
                    "n": last_n,
                    "budget": budget,
                    "tools": tools,
                    "system": system,
                }
                found = (await gql.data(WINDOW, variables))["contextWindow"]
                ids = [m["id"] for m in found["messages"]]
                answer = (ids, found["tokenCount"], found["truncated"], found["truncatedContent"])
                expected = window_of(conversation, leaf, last_n, budget, tools, system)
                assert answer == expected, variables
                # Exact, or at most the messages written before the leaf that are not in
                # the window (sequence numbers count the other branches' too).
                dropped = found["droppedCount"]
                older = written.index(branch[-1].id) + 1
                assert len(branch) - len(ids) <= dropped <= older - len(ids), variables


ONE_OF_EACH = """query($c: ID!) {
  conversation(id: $c) {
    first: messages(first: 5) { totalCount nodes { id } }
    last: messages(last: 5) { totalCount nodes { id } }
    all: messages(allBranches: true, last: 5) { nodes { id } }
  }
  contextWindow(conversationId: $c, lastN: 5) { tokenCount messages { id } }
  budget: contextWindow(conversationId: $c, tokenBudget: 40) { messages { id } }
}"""


async def statements_of(gql: GraphQLClient, sql: StatementCounter, conversation_id: str) -> int:
    sql.reset()
    await gql.data(ONE_OF_EACH, {"c": conversation_id})
    return sql.count


async def test_statements_do_not_grow_with_the_conversation(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    small = await long_conversation(gql, 12, seed=1)
    large = await long_conversation(gql, 200, seed=2)
    assert await statements_of(gql, sql, small.id) == await statements_of(gql, sql, large.id)
