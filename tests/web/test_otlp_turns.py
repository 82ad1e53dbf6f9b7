"""Messages rebuilt from LLM spans' histories take turns and types by sendMessage's rule:
a user's prompt opens a turn, everything after it answers it; types follow role and tool
calls."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.graphql_client import GraphQLClient
from tests.web.otlp_json import conversation, flat, flat_call, post, span

KINDS = """query($id: ID!) { conversation(id: $id) {
  messages(first: 50) { nodes { id role messageType turnId } }
} }"""


def llm(trace: int, number: int, start: int, *messages: dict[str, Any]) -> dict[str, Any]:
    """An OpenInference LLM span: its input history, then its answer."""
    attributes = {
        "session.id": "turns",
        "openinference.span.kind": "LLM",
        **flat("input", *messages[:-1]),
        **flat("output", messages[-1]),
    }
    return span(trace, number, "ChatCompletion", attributes, start=start, end=start + 100)


SYSTEM = {"role": "system", "content": "Be brief."}
ASK = {"role": "user", "content": "Weather in Paris?"}
CALL = {"role": "assistant", **flat_call(0, "call_1", "get_weather", {"city": "Paris"})}
RESULT = {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}
ANSWER = {"role": "assistant", "content": "Sunny."}
THANKS = {"role": "user", "content": "And tomorrow?"}
LATER = {"role": "assistant", "content": "Rain."}


@pytest.mark.parametrize("posts", [1, 2])
async def test_histories_take_turns_and_types(
    http: httpx.AsyncClient, gql: GraphQLClient, posts: int
) -> None:
    """Sent in one export or two, the second re-sending the first's history (its turns
    then come from the stored messages)."""
    first = llm(1, 1, 0, SYSTEM, ASK, CALL)
    second = llm(1, 2, 300, SYSTEM, ASK, CALL, RESULT, ANSWER)
    third = llm(2, 1, 600, SYSTEM, ASK, CALL, RESULT, ANSWER, THANKS, LATER)
    for part in [[first, second, third]] if posts == 1 else [[first, second], [third]]:
        await post(http, *part)
    gid = (await conversation(gql, "turns"))["id"]
    nodes = (await gql.data(KINDS, {"id": gid}))["conversation"]["messages"]["nodes"]
    ids = [m["id"] for m in nodes]
    assert [(m["role"], m["messageType"]) for m in nodes] == [
        ("SYSTEM", "TEXT"),
        ("USER", "TEXT"),
        ("ASSISTANT", "TOOL_CALL"),
        ("TOOL", "TOOL_RESULT"),
        ("ASSISTANT", "ANSWER"),
        ("USER", "TEXT"),
        ("ASSISTANT", "ANSWER"),
    ]
    # The system prompt comes before any user's: it opens a turn of its own.
    assert [m["turnId"] for m in nodes] == [ids[0], *[ids[1]] * 4, ids[5], ids[5]]


async def test_a_history_of_its_own_continues_the_latest_turn(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """A history that does not start with a user's prompt joins the turn of the message
    the conversation stopped at, stored by an earlier export."""
    await post(http, llm(1, 1, 0, ASK, ANSWER))
    await post(http, llm(2, 1, 300, {"role": "assistant", "content": "Anything else?"}))
    await post(http, llm(3, 1, 600, THANKS, LATER))
    gid = (await conversation(gql, "turns"))["id"]
    nodes = (await gql.data(KINDS, {"id": gid}))["conversation"]["messages"]["nodes"]
    ids = [m["id"] for m in nodes]
    assert [m["turnId"] for m in nodes] == [ids[0]] * 3 + [ids[3]] * 2
