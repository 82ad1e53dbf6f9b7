"""contextWindow's defaults and its latest-prompt guarantee, through /graphql.

The conversations here have no preamble, so tokenCount is the messages' own: a USER
message's ceil(characters / 4), an ASSISTANT message's stored outputTokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from config import Settings
from tests import factories
from tests.graphql_client import GraphQLClient
from web.app import create_app

WINDOW = """
query($c: ID!, $n: Int, $budget: Int) {
  contextWindow(conversationId: $c, lastN: $n, tokenBudget: $budget) {
    tokenCount truncated droppedCount truncatedMessageId truncatedContent messages { id }
  }
}"""
# 400 characters (100 tokens), each 4-character group its own number: what a cut keeps
# shows which end it kept.
LONG_PROMPT = "".join(f"{i:04d}" for i in range(100))


async def conversation(gql: GraphQLClient, *sent: dict[str, Any]) -> tuple[str, list[str]]:
    """A conversation of `sent` messages (USER unless a role is given), and their ids."""
    c = (await factories.conversation(gql))["id"]
    ids = []
    for message in sent:
        if message.get("role") == "ASSISTANT":
            message = {"senderId": "agent-1", "content": "answer", **message}
        ids.append((await factories.message(gql, c, **message))["id"])
    return c, ids


def answer(tokens: int) -> dict[str, Any]:
    return {"role": "ASSISTANT", "outputTokens": tokens}


async def window(gql: GraphQLClient, c: str, **variables: Any) -> Any:
    return (await gql.data(WINDOW, {"c": c, **variables}))["contextWindow"]


def ids_of(found: Any) -> list[str]:
    return [message["id"] for message in found["messages"]]


async def test_without_limits_the_last_10_within_4000_tokens(gql: GraphQLClient) -> None:
    c, m = await conversation(gql, *({"content": f"q{i}"} for i in range(12)))
    found = await window(gql, c)
    assert ids_of(found) == m[2:]
    assert (found["tokenCount"], found["truncated"], found["droppedCount"]) == (10, True, 2)
    # 2,500 + 1,500 + 2 passes 4,000: the oldest answer is left out.
    c, m = await conversation(gql, answer(2500), answer(1500), {"content": "question"})
    found = await window(gql, c)
    assert ids_of(found) == m[1:]
    assert (found["tokenCount"], found["truncated"], found["droppedCount"]) == (1502, True, 1)
    # One limit given: the other is not defaulted.
    found = await window(gql, c, n=3)
    assert (ids_of(found), found["tokenCount"], found["truncated"]) == (m, 4002, False)


@asynccontextmanager
async def served_with(settings: Settings) -> AsyncIterator[GraphQLClient]:
    """A client of another app on the same database, with `settings`."""
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as http:
            yield GraphQLClient(http)


async def test_the_defaults_and_the_prompt_search_follow_the_settings(
    gql: GraphQLClient, settings: Settings
) -> None:
    c, m = await conversation(gql, {"content": "question"}, *(answer(10) for _ in range(5)))
    configured = replace(
        settings, context_window_last_n=3, context_window_token_budget=21, max_page_size=2
    )
    async with served_with(configured) as other:
        # At most 3 within 21 tokens, and the prompt in the oldest place: beside its 2
        # tokens, a second answer of 10 no longer fits.
        found = await window(other, c)
        assert (ids_of(found), found["tokenCount"], found["droppedCount"]) == (
            [m[0], m[5]],
            12,
            4,
        )
        # The prompt is looked for at most MAX_PAGE_SIZE (2) messages past the window:
        # 4 past it here, so the window has no prompt.
        found = await window(other, c, n=1)
        assert (ids_of(found), found["truncated"]) == ([m[5]], True)
    found = await window(gql, c, n=1)
    assert (ids_of(found), found["truncated"]) == ([m[0]], True)


async def test_a_prompt_older_than_the_window_takes_its_oldest_place(gql: GraphQLClient) -> None:
    c, m = await conversation(gql, {"content": "question"}, *(answer(10) for _ in range(5)))
    found = await window(gql, c, n=3)
    assert (ids_of(found), found["tokenCount"]) == ([m[0], m[4], m[5]], 22)
    assert (found["truncated"], found["droppedCount"], found["truncatedMessageId"]) == (
        True,
        3,
        None,
    )
    # 27 tokens: the prompt's 2, then the newest that fit in the 25 left.
    found = await window(gql, c, budget=27)
    assert (ids_of(found), found["tokenCount"], found["droppedCount"]) == (
        [m[0], m[4], m[5]],
        22,
        3,
    )


async def test_a_prompt_over_the_budget_is_kept_cut_to_its_end(gql: GraphQLClient) -> None:
    c, m = await conversation(gql, {"content": "hi"}, answer(5), {"content": LONG_PROMPT})
    found = await window(gql, c, budget=50)
    assert ids_of(found) == [m[2]]
    assert (found["truncatedMessageId"], found["truncatedContent"]) == (m[2], LONG_PROMPT[-200:])
    assert (found["tokenCount"], found["truncated"], found["droppedCount"]) == (50, True, 2)
    # Answered since: the answer gives way to the prompt, cut as before.
    await factories.message(gql, c, role="ASSISTANT", senderId="agent-1", outputTokens=30)
    assert await window(gql, c, budget=50) == found | {"droppedCount": 3}
    # Room for all of it: not cut.
    found = await window(gql, c, budget=100)
    assert (ids_of(found), found["truncated"], found["truncatedContent"]) == ([m[2]], True, None)
