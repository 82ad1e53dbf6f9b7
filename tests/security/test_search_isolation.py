"""Search through the secured endpoint: what a caller finds, its ranks, order, snippets
and cursors, owes nothing to documents the caller cannot see.

SQLite's FTS5 bm25() weighs a match by statistics of the whole index (how many
documents hold a word, how long documents are on average). Ranked that way, a caller
could learn whether a word occurs in other users' conversations by watching their own
results move; here other users' writes must leave the caller's responses unchanged to
the byte.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from resolvers.search import CANDIDATES
from tests import factories, search_documents
from tests.graphql_client import GraphQLClient
from tests.identities import as_user

SEARCH = """
query($q: String!, $f: SearchFilter, $first: Int, $after: String) {
  search(query: $q, filter: $f, first: $first, after: $after) {
    edges { cursor node { rank snippet message { id } span { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
SPANS = """query($o: SpanOrder, $after: String) {
  spans(orderBy: $o, first: 5, after: $after) { nodes { id } } }"""
CONVERSATIONS = """query($after: String) {
  conversations(first: 5, after: $after) { nodes { id } } }"""
MESSAGES = """query($id: ID!, $after: String) {
  conversation(id: $id) { messages(first: 5, after: $after) { nodes { id } } } }"""

ALICE_MESSAGES = [
    "I want a refund for my order",
    "refund refund refund order",
    "refund order order order",
    "Refunds are processed within five days of the order arriving back at our warehouse.",
    "order 66",
    "Where is my parcel? It is late again and nobody answers the phone.",
]
ALICE_SPAN_OUTPUT = {"answer": "refund issued for order 17"}
# Each query weighs its words differently as other documents come and go under bm25.
QUERIES = ["refund", "refund order", "order", "late parcel"]
FILTERS: list[dict[str, Any]] = [{}, {"includeSpans": True}]
FILLER = " ".join(["lorem", "ipsum", "dolor", "sit", "amet"] * 60)


async def post(user: GraphQLClient, variables: dict[str, Any]) -> bytes:
    response = await user.http.post(
        "/graphql", json={"query": SEARCH, "variables": variables}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    return response.content


async def responses(user: GraphQLClient) -> list[bytes]:
    """Every page (two hits each, so cursors are followed) of every query, as sent."""
    found: list[bytes] = []
    for query in QUERIES:
        for search_filter in FILTERS:
            after = None
            while True:
                body = await post(
                    user, {"q": query, "f": search_filter, "first": 2, "after": after}
                )
                found.append(body)
                page_info = json.loads(body)["data"]["search"]["pageInfo"]
                if not page_info["hasNextPage"]:
                    break
                after = page_info["endCursor"]
    return found


async def conversation_of(user: GraphQLClient, name: str) -> str:
    conversation: str = (await factories.conversation(user, owner={"participantId": name}))["id"]
    return conversation


async def write(user: GraphQLClient, name: str, messages: list[str], outputs: Any = None) -> None:
    conversation = await conversation_of(user, name)
    for content in messages:
        await factories.message(user, conversation, content=content, senderId=name)
    if outputs is not None:
        trace = (await factories.trace(user, conversation))["id"]
        span = (await factories.span(user, trace, kind="TOOL"))["id"]
        await factories.end_span(user, span, outputs=outputs)


async def test_ranks_ignore_documents_the_caller_cannot_see(
    secured_http: httpx.AsyncClient,
) -> None:
    alice, bob = as_user(secured_http, "alice"), as_user(secured_http, "bob")
    await write(alice, "alice", ALICE_MESSAGES, ALICE_SPAN_OUTPUT)
    before = await responses(alice)
    hits = json.loads(before[0])["data"]["search"]["edges"]
    assert hits, "alice must find her own documents, or the comparison proves nothing"

    # The words alice searches for, in many documents of bob's, at every density.
    await write(
        bob,
        "bob",
        [" ".join(["refund"] * n + ["order"] * (5 - n) + ["late parcel"]) for n in range(6)] * 5,
        {"answer": "refund refund order"},
    )
    # Indexed: bob finds them (all but the five without "refund").
    found_by_bob = await bob.data(SEARCH, {"q": "refund", "first": 100})
    assert len(found_by_bob["search"]["edges"]) == 25
    assert await responses(alice) == before

    # No word alice searches for, but many more documents and a longer average one.
    await write(bob, "bob", [FILLER] * 20, {"text": FILLER})
    assert await responses(alice) == before


async def test_others_newer_matches_neither_hide_nor_leak(
    secured_http: httpx.AsyncClient,
) -> None:
    """A search ranks only its newest matches; those are the newest the caller may see,
    however many newer documents of others match: more than a search ranks."""
    alice, bob = as_user(secured_http, "alice"), as_user(secured_http, "bob")
    await write(alice, "alice", ALICE_MESSAGES, ALICE_SPAN_OUTPUT)
    before = await responses(alice)

    bob_conversations = [await conversation_of(bob, "bob") for _ in range(4)]
    flood = [f"refund order late parcel {n}" for n in range(CANDIDATES + 100)]
    bobs = await search_documents.messages(bob, bob_conversations, flood, sender="bob")
    assert await responses(alice) == before

    # Bob's own search is cut at the newest matches, all of them his.
    found: list[str] = []
    variables: dict[str, Any] = {"q": "refund", "first": 500}
    while True:
        page = (await bob.data(SEARCH, variables))["search"]
        found += [edge["node"]["message"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        variables["after"] = page["pageInfo"]["endCursor"]
    assert sorted(found) == sorted(bobs[-CANDIDATES:])


async def test_ranks_prefer_more_and_denser_matches(secured_http: httpx.AsyncClient) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await conversation_of(alice, "alice")
    sent = {}
    for content in ("refund please", "refund refund please", "a refund, please, if you can"):
        message = await factories.message(alice, conversation, content=content, senderId="alice")
        sent[message["id"]] = content
    found = (await alice.data(SEARCH, {"q": "refund"}))["search"]["edges"]
    assert [sent[hit["node"]["message"]["id"]] for hit in found] == [
        "refund refund please",
        "refund please",
        "a refund, please, if you can",
    ]


def cursor(value: Any) -> str:
    return encoded(json.dumps(value))


def encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


# Cursors no search hands out: numbers out of any column's range, other JSON, other bytes.
# A search's cursor is [rank, document id, newest candidate's id].
BAD_SEARCH_CURSORS = {
    "id beyond 64 bits": cursor([0.5, 2**63, 1]),
    "id below 64 bits": cursor([0.5, -(2**63) - 1, 1]),
    "id of 30 digits": cursor([0.5, 10**30, 1]),
    "newest beyond 64 bits": cursor([0.5, 1, 2**63]),
    "rank beyond a double": cursor([10**400, 1, 1]),
    "rank below a double": cursor([-(10**400), 1, 1]),
    "rank overflowing to infinity": encoded("[1e999, 1, 1]"),
    "rank NaN": encoded("[NaN, 1, 1]"),
    "rank -Infinity": encoded("[-Infinity, 1, 1]"),
    "integer of 5000 digits": encoded("9" * 5000),
    "nested too deep": encoded("[" * 100_000),
    "rank a boolean": cursor([True, 1, 1]),
    "id a boolean": cursor([0.5, False, 1]),
    "rank a string": cursor(["0.5", 1, 1]),
    "id a string": cursor([0.5, "1", 1]),
    "id a float": cursor([0.5, 1.0, 1]),
    "newest a string": cursor([0.5, 1, "1"]),
    "newest null": cursor([0.5, 1, None]),
    "one value": cursor([0.5]),
    "two values": cursor([0.5, 1]),
    "four values": cursor([0.5, 1, 2, 3]),
    "an object": cursor({"rank": 0.5, "id": 1}),
    "null": cursor(None),
    "not UTF-8": base64.urlsafe_b64encode(b"\xff\xfe[").decode(),
    "not base64": "***",
    "empty": "",
}


@pytest.mark.parametrize("after", BAD_SEARCH_CURSORS.values(), ids=BAD_SEARCH_CURSORS.keys())
async def test_bad_search_cursors_are_bad_input(
    secured_http: httpx.AsyncClient, after: str
) -> None:
    alice = as_user(secured_http, "alice")
    await write(alice, "alice", ["refund please"])
    assert await alice.error_code(SEARCH, {"q": "refund", "after": after}) == "BAD_USER_INPUT"


async def test_extreme_search_cursors_in_range_are_accepted(
    secured_http: httpx.AsyncClient,
) -> None:
    alice = as_user(secured_http, "alice")
    await write(alice, "alice", ["refund please"])
    largest, smallest = 2**63 - 1, -(2**63)
    for after, hits in (
        (cursor([1e308, largest, largest]), 1),
        (cursor([-1e308, smallest, largest]), 0),
        (cursor([1e308, largest, smallest]), 0),
    ):
        found = await alice.data(SEARCH, {"q": "refund", "after": after})
        assert len(found["search"]["edges"]) == hits


# Beyond a double, for every column; beyond 64 bits, for every column but the floats
# (a double does hold 2**63: a float column's cursor may).
BEYOND_A_DOUBLE = [10**400, -(10**400)]
BEYOND_64_BITS = [2**63, -(2**63) - 1, 10**30, *BEYOND_A_DOUBLE]
SPAN_ORDERS = {
    "START": BEYOND_64_BITS,
    "TOKENS": BEYOND_64_BITS,
    "DURATION": BEYOND_A_DOUBLE,
    "COST": BEYOND_A_DOUBLE,
}


async def test_huge_numbers_in_list_cursors_are_bad_input(
    secured_http: httpx.AsyncClient,
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await conversation_of(alice, "alice")
    row_id = "00000000-0000-0000-0000-000000000001"
    for field, numbers in SPAN_ORDERS.items():
        for number in numbers:
            variables = {"o": {"field": field}, "after": cursor([number, row_id])}
            assert await alice.error_code(SPANS, variables) == "BAD_USER_INPUT"
    for number in BEYOND_64_BITS:
        after = cursor([number, row_id])
        assert await alice.error_code(CONVERSATIONS, {"after": after}) == "BAD_USER_INPUT"
        variables = {"id": conversation, "after": after}
        assert await alice.error_code(MESSAGES, variables) == "BAD_USER_INPUT"
