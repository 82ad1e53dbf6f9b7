"""Conversation titles (issue 19, the conversation API contract): at most 255 characters,
and a conversation created without one takes its first user message's first line."""

from __future__ import annotations

import asyncio

from tests import factories
from tests.graphql_client import GraphQLClient
from tests.ws_client import GraphQLWebSocket

TITLE = "query($c: ID!) { conversation(id: $c) { title } }"
UPDATE = "mutation($c: ID!, $t: String) { updateConversation(id: $c, input: {title: $t}) { id } }"
FORK = "mutation($m: ID!, $t: String) { forkConversation(fromMessageId: $m, title: $t) { id } }"
CREATE = """mutation($t: String) {
  createConversation(input: {owner: {participantId: "user-1"}, title: $t}) { id title }
}"""
COUNT = "{ conversations { totalCount } }"
EVENTS = """subscription($c: ID!) {
  conversationEvents(conversationId: $c) { kind ... on ConversationChangeEvent { fields } }
}"""


async def title_of(gql: GraphQLClient, conversation_id: str) -> str | None:
    title: str | None = (await gql.data(TITLE, {"c": conversation_id}))["conversation"]["title"]
    return title


async def test_a_title_is_at_most_255_characters(gql: GraphQLClient) -> None:
    longest = "t" * 255
    assert (await gql.data(CREATE, {"t": longest}))["createConversation"]["title"] == longest
    error = await gql.error(CREATE, {"t": "t" * 256})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "255" in error["message"]
    assert (await gql.data(COUNT))["conversations"]["totalCount"] == 1

    conversation = (await factories.conversation(gql, title="kept"))["id"]
    assert await gql.error_code(UPDATE, {"c": conversation, "t": "u" * 256}) == "BAD_USER_INPUT"
    assert await title_of(gql, conversation) == "kept"
    message = (await factories.message(gql, conversation))["id"]
    assert await gql.error_code(FORK, {"m": message, "t": "f" * 256}) == "BAD_USER_INPUT"
    assert (await gql.data(COUNT))["conversations"]["totalCount"] == 2


async def test_the_first_user_message_titles_an_untitled_conversation(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql, title=None))["id"]
    # An agent speaking first does not title it: the user's prompt says what it is about.
    await factories.message(
        gql, conversation, senderId="agent-1", senderType="AGENT", role="ASSISTANT"
    )
    assert await title_of(gql, conversation) is None
    await factories.message(gql, conversation, content="\n  Plan a week in Kyoto  \nin April")
    assert await title_of(gql, conversation) == "Plan a week in Kyoto"
    # Only the first: later prompts leave it.
    await factories.message(gql, conversation, content="And Osaka?")
    assert await title_of(gql, conversation) == "Plan a week in Kyoto"


async def test_a_title_given_or_set_is_never_replaced(gql: GraphQLClient) -> None:
    titled = (await factories.conversation(gql, title="Mine"))["id"]
    await factories.message(gql, titled, content="something else")
    assert await title_of(gql, titled) == "Mine"

    untitled = (await factories.conversation(gql, title=None))["id"]
    await gql.data(UPDATE, {"c": untitled, "t": "Set by hand"})
    await factories.message(gql, untitled, content="a prompt")
    assert await title_of(gql, untitled) == "Set by hand"


async def test_a_long_prompt_gives_a_title_of_80_characters(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql, title=None))["id"]
    words = " ".join(["word"] * 40)  # 199 characters
    await factories.message(gql, conversation, content=words)
    title = await title_of(gql, conversation)
    assert title is not None
    assert len(title) <= 80
    assert title.endswith("…")
    assert words.startswith(title.removesuffix("…"))
    # Cut between words, not inside one.
    assert title.removesuffix("…").endswith("word")


async def test_a_prompt_of_parts_titles_with_its_text(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql, title=None))["id"]
    parts = [{"type": "file", "url": "s3://a"}, {"type": "text", "text": "Summarise this file"}]
    await factories.message(gql, conversation, content="", parts=parts)
    assert await title_of(gql, conversation) == "Summarise this file"

    blank = (await factories.conversation(gql, title=None))["id"]
    await factories.message(gql, blank, content="   ")
    assert await title_of(gql, blank) is None


async def test_subscribers_hear_the_new_title(gql: GraphQLClient, ws: GraphQLWebSocket) -> None:
    conversation = (await factories.conversation(gql, title=None))["id"]
    op = await ws.subscribe(EVENTS, {"c": conversation})
    await asyncio.sleep(0.2)  # let the subscription open before writing
    await factories.message(gql, conversation, content="first")
    await factories.message(gql, conversation, content="second")
    events = [event["conversationEvents"] for event in await ws.collect(op, 3)]
    assert events == [
        {"kind": "MESSAGE_CREATED"},
        {"kind": "CONVERSATION_UPDATED", "fields": ["title"]},
        {"kind": "MESSAGE_CREATED"},
    ]
