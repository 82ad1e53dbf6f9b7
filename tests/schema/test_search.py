"""Full-text search through /graphql, on SQLite's FTS5 and PostgreSQL's tsvector alike.

The index is written by triggers: these tests check it follows every kind of write
(new messages, an edit's new sibling, a streamed answer growing after it was first
indexed, spans and their outputs) and visibility.
"""

from __future__ import annotations

from typing import Any

import httpx

from models.enums import SpanKind
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user

SEARCH = """
query($q: String!, $f: SearchFilter, $first: Int, $after: String) {
  search(query: $q, filter: $f, first: $first, after: $after) {
    edges { cursor node { rank snippet message { id } span { id } conversation { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
START = """mutation($c: ID!, $m: ID!) {
  startAgentSession(input: {conversationId: $c, profileName: "agent-1", messageId: $m}) { id } }"""
CHUNK = """mutation($m: ID!, $t: String!) {
  appendAnswerChunk(input: {messageId: $m, text: $t}) { id content } }"""
EDIT = factories.mutation_document("editMessage", "id")


async def found(gql: GraphQLClient, query: str, **variables: Any) -> list[Any]:
    result = (await gql.data(SEARCH, {"q": query, **variables}))["search"]
    return [edge["node"] for edge in result["edges"]]


async def message_ids(gql: GraphQLClient, query: str, **variables: Any) -> list[str]:
    return [hit["message"]["id"] for hit in await found(gql, query, **variables)]


async def send(gql: GraphQLClient, conversation: str, content: str, **input: Any) -> str:
    message = await factories.message(gql, conversation, content=content, **input)
    return str(message["id"])


async def test_ranked_stemmed_and_highlighted(gql: GraphQLClient) -> None:
    a = (await factories.conversation(gql))["id"]
    b = (await factories.conversation(gql))["id"]
    asks = await send(gql, a, "How do I get a refund for my R&D order?")
    answer = await send(gql, a, "Refunds are processed within five days.", role="ASSISTANT")
    await send(gql, a, "Thanks, and what about shipping costs?")
    insistent = await send(gql, b, "refund refund refund please")

    hits = await found(gql, "refunding")
    # Three mentions in four words rank first; then the two single mentions.
    assert hits[0]["message"]["id"] == insistent
    assert sorted(hit["message"]["id"] for hit in hits[1:]) == sorted([asks, answer])
    ranks = [hit["rank"] for hit in hits]
    assert ranks == sorted(ranks, reverse=True)
    by_id = {hit["message"]["id"]: hit for hit in hits}
    # The stem matches; the text around it is escaped HTML.
    assert "<mark>refund</mark>" in by_id[asks]["snippet"]
    assert "R&amp;D" in by_id[asks]["snippet"]
    assert "<mark>Refunds</mark>" in by_id[answer]["snippet"]
    assert by_id[asks]["conversation"] == {"id": a}
    # Every word must occur.
    assert await message_ids(gql, "refund days") == [answer]
    assert await message_ids(gql, "refund", f={"conversationId": b}) == [insistent]
    assert await message_ids(gql, "refund", f={"roles": ["ASSISTANT"]}) == [answer]
    assert await message_ids(gql, "nothing like it") == []


async def test_words_written_into_the_statement_stay_words(gql: GraphQLClient) -> None:
    """The words are part of the SQL text on PostgreSQL (planned for them): quotes,
    backslashes and comment marks around them change nothing."""
    conv = (await factories.conversation(gql))["id"]
    irish = await send(gql, conv, "O'Brien's refund arrived")
    for query in ["O'Brien's", "o'brien\\'s -- ;", "'); --refund"]:
        assert await message_ids(gql, query) == [irish], query
    assert await message_ids(gql, "O'Brien's refund") == [irish]


async def test_pages_follow_the_ranking(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    # Equal documents rank equally: the page order falls back to the document.
    sent = [await send(gql, conv, "the same tie") for _ in range(5)]
    everything = await message_ids(gql, "tie")
    assert sorted(everything) == sorted(sent)
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.data(SEARCH, {"q": "tie", "first": 2, "after": after}))["search"]
        seen += [edge["node"]["message"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == everything
    assert await gql.error_code(SEARCH, {"q": "tie", "after": "bogus"}) == "BAD_USER_INPUT"
    assert await gql.error_code(SEARCH, {"q": " ?! "}) == "BAD_USER_INPUT"


async def test_follows_edits_and_streamed_answers(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    original = await send(gql, conv, "my parcel is late")
    edited = await gql.data(EDIT, {"input": {"messageId": original, "content": "my box is late"}})
    edit_id = edited["editMessage"]["id"]
    assert await message_ids(gql, "parcel") == [original]
    assert await message_ids(gql, "box") == [edit_id]

    streaming = await send(
        gql, conv, "", role="ASSISTANT", senderId="agent-1", senderType="AGENT", status="STREAMING"
    )
    await gql.data(START, {"c": conv, "m": streaming})
    await gql.data(CHUNK, {"m": streaming, "t": "Your courier "})
    assert await message_ids(gql, "courier") == [streaming]
    # Indexed once already, the message grows: the index follows.
    await gql.data(CHUNK, {"m": streaming, "t": "reports a delay."})
    assert await message_ids(gql, "delay") == [streaming]
    assert await message_ids(gql, "courier delay") == [streaming]


async def test_spans_on_request(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    await send(gql, conv, "the weather in Paris")
    trace = await factories.trace(gql, conv)
    span = await factories.span(gql, trace["id"], kind="TOOL", inputs={"city": "Paris", "days": 3})
    assert [hit["span"] for hit in await found(gql, "paris")] == [None]
    await factories.end_span(gql, span["id"], outputs={"forecast": {"summary": "sunny"}})
    with_spans = await found(gql, "sunny", f={"includeSpans": True})
    assert [(hit["span"], hit["message"]) for hit in with_spans] == [({"id": span["id"]}, None)]
    # A span is searched by what it produced: "Paris" is only in its inputs.
    assert [hit["span"] for hit in await found(gql, "paris", f={"includeSpans": True})] == [None]
    # JSON keys are not text: "forecast" is a key only.
    assert await found(gql, "forecast", f={"includeSpans": True}) == []


async def test_spans_of_the_searched_kinds_only(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, conv))["id"]
    spans: dict[str, str] = {}
    for kind in SpanKind:
        span = (await factories.span(gql, trace, kind=kind.value))["id"]
        await factories.end_span(gql, span, outputs={"text": f"zebra {kind.value}"})
        spans[kind.value] = span
    # A model's answer is found as the message it is, not as its span's output.
    answer = await send(gql, conv, "the zebra llm says hello", role="ASSISTANT")

    hits = await found(gql, "zebra", f={"includeSpans": True})
    assert sorted(hit["span"]["id"] for hit in hits if hit["span"]) == sorted(
        [spans["TOOL"], spans["RETRIEVER"]]
    )
    assert [hit["message"]["id"] for hit in hits if hit["message"]] == [answer]
    assert [hit["span"] for hit in await found(gql, "zebra llm", f={"includeSpans": True})] == [
        None
    ]
    assert await found(gql, "zebra chain", f={"includeSpans": True}) == []
    retrieved = await found(gql, "zebra retriever", f={"includeSpans": True})
    assert [hit["span"] for hit in retrieved] == [{"id": spans["RETRIEVER"]}]


async def test_only_what_the_caller_sees(secured_http: httpx.AsyncClient) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    mine = (await factories.conversation(alice, owner={"participantId": "alice"}))["id"]
    theirs = (await factories.conversation(carol, owner={"participantId": "carol"}))["id"]
    kept = await send(alice, mine, "secret plans", senderId="alice")
    await send(carol, theirs, "secret plans", senderId="carol")
    assert await message_ids(alice, "secret") == [kept]
    # Nobody's conversation is dave's: nothing to find.
    assert await message_ids(as_user(secured_http, "dave"), "secret") == []
