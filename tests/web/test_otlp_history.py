"""Every model call re-sends the history before it: each message is stored once, known by
its position in that history (its text and the message before it), not by its text."""

from __future__ import annotations

from typing import Any

import httpx

from tests.graphql_client import GraphQLClient
from tests.web.otlp_json import conversation, flat, genai, post, span, text


def llm(key: str, trace: int, number: int, start: int, *said: tuple[str, str]) -> dict[str, Any]:
    """An OpenInference LLM span: `said` is its input history, then its answer."""
    messages = [{"role": role, "content": content} for role, content in said]
    attributes = {
        "session.id": key,
        "openinference.span.kind": "LLM",
        **flat("input", *messages[:-1]),
        **flat("output", messages[-1]),
    }
    return span(trace, number, "ChatOpenAI", attributes, start=start, end=start + 100)


def transcript(found: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [
        (m["role"], m["content"], m["parent"] and m["parent"]["content"])
        for m in found["messages"]["nodes"]
    ]


async def test_a_history_sent_again_is_stored_once(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    common = {"gen_ai.conversation.id": "resent", "gen_ai.operation.name": "chat"}
    question, answer = ("user", [text("Hi")]), ("assistant", [text("Hello!")])
    follow_up, last = ("user", [text("Bye")]), ("assistant", [text("Goodbye!")])
    instructions = {"gen_ai.system_instructions": "Be brief."}
    first = {
        **common,
        **instructions,
        "gen_ai.input.messages": genai(question),
        "gen_ai.output.messages": genai(answer),
    }
    second = {
        **common,
        **instructions,
        "gen_ai.input.messages": genai(question, answer, follow_up),
        "gen_ai.output.messages": genai(last),
    }
    # The later call first: the earlier one, arriving after, adds nothing.
    await post(http, span(1, 2, "chat", second, start=300))
    await post(http, span(1, 1, "chat", first))
    # The same history in another trace (a retried run) adds nothing either.
    await post(http, span(2, 1, "chat", second))
    found = await conversation(gql, "resent")
    assert transcript(found) == [
        ("SYSTEM", "Be brief.", None),
        ("USER", "Hi", "Be brief."),
        ("ASSISTANT", "Hello!", "Hi"),
        ("USER", "Bye", "Hello!"),
        ("ASSISTANT", "Goodbye!", "Bye"),
    ]


async def test_yes_after_another_history_is_a_message_of_its_own(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """An agent that sends each task's exchange alone: the second "Confirm?" and "yes"
    say the same words as the first, after another history."""
    for trace, order in ((1, "1"), (2, "2")):
        ask = ("user", f"Refund order {order}?")
        await post(
            http,
            llm("refunds", trace, 1, 0, ask, ("assistant", "Confirm?")),
            llm(
                "refunds",
                trace,
                2,
                300,
                ask,
                ("assistant", "Confirm?"),
                ("user", "yes"),
                ("assistant", f"Refunded order {order}."),
            ),
        )
    assert transcript(await conversation(gql, "refunds")) == [
        ("USER", "Refund order 1?", None),
        ("ASSISTANT", "Confirm?", "Refund order 1?"),
        ("USER", "yes", "Confirm?"),
        ("ASSISTANT", "Refunded order 1.", "yes"),
        # A history of its own continues the conversation from its latest message.
        ("USER", "Refund order 2?", "Refunded order 1."),
        ("ASSISTANT", "Confirm?", "Refund order 2?"),
        ("USER", "yes", "Confirm?"),
        ("ASSISTANT", "Refunded order 2.", "yes"),
    ]


async def test_each_trace_repeating_the_turns_before_it(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """A chat whose every turn is a trace re-sending the whole conversation, the user
    saying "yes" twice."""
    turns = [("user", "Delete old files?"), ("assistant", "Found 3. Delete them?")]
    turns += [("user", "yes"), ("assistant", "Deleted. Empty the bin too?")]
    turns += [("user", "yes"), ("assistant", "Done.")]
    for trace in (1, 2, 3):
        await post(http, llm("chat", trace, 1, trace * 1000, *turns[: 2 * trace]))
    # The last turn sent again in a trace of its own changes nothing.
    await post(http, llm("chat", 4, 1, 5000, *turns))
    found = await conversation(gql, "chat")
    assert found["messageCount"] == 6
    assert transcript(found) == [
        ("USER", "Delete old files?", None),
        ("ASSISTANT", "Found 3. Delete them?", "Delete old files?"),
        ("USER", "yes", "Found 3. Delete them?"),
        ("ASSISTANT", "Deleted. Empty the bin too?", "yes"),
        ("USER", "yes", "Deleted. Empty the bin too?"),
        ("ASSISTANT", "Done.", "yes"),
    ]
