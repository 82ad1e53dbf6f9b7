"""The root `toolCalls` list through /graphql: each filter, pages both ways over ties,
totals, what a signed-in caller may see, bad input, and a page's statement count.

A caller who sees everything reads the list group by group (a status's calls, or a
tool's, ranges of indexes), a signed-in caller or a conversation filter gathers the
matching calls and sorts them: both must give the same list.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from resolvers.ids import from_global_id, to_global_id
from resolvers.tool_call_list import MAX_TOOL_NAMES
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.identities import as_user
from tests.paging import assert_pages_both_ways

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
PAGE = """query($f: ToolCallFilter, $o: ToolCallOrder, $first: Int, $after: String, $last: Int,
  $before: String) {
  toolCalls(filter: $f, orderBy: $o, first: $first, after: $after, last: $last,
    before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id } } }"""


@dataclass(frozen=True)
class Given:
    tool: str
    status: str
    minute: int | None  # None: not started
    conversation: int  # which of the owner's two conversations

    @property
    def started(self) -> datetime | None:
        return None if self.minute is None else T0 + timedelta(minutes=self.minute)


CALLS = [
    Given("search", "COMPLETED", 0, 0),
    Given("search", "FAILED", 1, 0),
    Given("calc", "FAILED", 1, 1),
    Given("calc", "COMPLETED", 1, 0),
    Given("email", "COMPLETED", 2, 1),
    Given("search", "RUNNING", 3, 1),
    Given("calc", "PENDING", None, 0),
    Given("email", "PENDING", None, 1),
]


@dataclass
class Built:
    calls: dict[str, Given]  # by global id
    conversations: list[str]


async def build(client: GraphQLClient, owner: str) -> Built:
    """The owner's two conversations and CALLS, each in a message of its own and run by a
    span of its own."""
    conversations, traces = [], []
    for _ in range(2):
        conversation = await factories.conversation(client, owner={"participantId": owner})
        conversations.append(conversation["id"])
        traces.append((await factories.trace(client, conversation["id"]))["id"])
    calls = {}
    for number, given in enumerate(CALLS):
        span = await factories.span(client, traces[given.conversation], name=f"run {number}")
        call = {"callId": f"c{number}", "toolName": given.tool, "status": given.status}
        call["spanId"] = span["id"]
        if given.started is not None:
            call["startedAt"] = given.started.isoformat()
        message = await factories.message(
            client,
            conversations[given.conversation],
            fields="toolCalls { id }",
            senderId=owner,
            toolCalls=[call],
        )
        calls[message["toolCalls"][0]["id"]] = given
    return Built(calls, conversations)


def in_list_order(calls: dict[str, Given], descending: bool) -> list[str]:
    """By start then id in the direction asked, calls not started last (by id too)."""

    def key(call_id: str) -> Any:
        return (calls[call_id].started, from_global_id(call_id)[1])

    started = sorted((i for i in calls if calls[i].started is not None), key=key)
    not_started = sorted((i for i in calls if calls[i].started is None), key=key)
    if descending:
        started.reverse()
        not_started.reverse()
    return started + not_started


def filters(built: Built) -> list[tuple[dict[str, Any], Any]]:
    """(filter, which calls it holds) for each filter and some together."""
    first = built.conversations[0]
    return [
        ({}, lambda c: True),
        ({"toolNames": ["calc", "email"]}, lambda c: c.tool in ("calc", "email")),
        ({"statuses": ["FAILED", "PENDING"]}, lambda c: c.status in ("FAILED", "PENDING")),
        ({"conversationIds": [first]}, lambda c: c.conversation == 0),
        (
            {"startedAfter": (T0 + timedelta(minutes=1)).isoformat()},
            lambda c: c.minute is not None and c.minute >= 1,
        ),
        (
            {"startedBefore": (T0 + timedelta(minutes=2)).isoformat()},
            lambda c: c.minute is not None and c.minute < 2,
        ),
        (
            {"toolNames": ["calc", "search"], "statuses": ["FAILED"], "conversationIds": [first]},
            lambda c: c.tool in ("calc", "search") and c.status == "FAILED" and c.conversation == 0,
        ),
        ({"toolNames": ["search", "search", "nowhere"]}, lambda c: c.tool == "search"),
    ]


async def check_every_filter_and_order(client: GraphQLClient, built: Built) -> None:
    for tool_call_filter, holds in filters(built):
        wanted = {i: c for i, c in built.calls.items() if holds(c)}
        total = (await client.data(PAGE, {"f": tool_call_filter}))["toolCalls"]["totalCount"]
        assert total == len(wanted), tool_call_filter
        for direction in ("DESC", "ASC"):
            expected = in_list_order(wanted, direction == "DESC")
            variables = {"f": tool_call_filter, "o": {"direction": direction}}
            await assert_pages_both_ways(client, PAGE, "toolCalls", variables, 2, expected)


async def test_every_filter_pages_both_ways(gql: GraphQLClient) -> None:
    await check_every_filter_and_order(gql, await build(gql, "user-1"))


async def test_a_signed_in_caller_pages_the_same(secured_http: httpx.AsyncClient) -> None:
    alice = as_user(secured_http, "alice")
    await check_every_filter_and_order(alice, await build(alice, "alice"))


async def test_newest_first_unless_asked(gql: GraphQLClient) -> None:
    built = await build(gql, "user-1")
    page = (await gql.data(PAGE, {"first": 3}))["toolCalls"]
    assert [built.calls[n["id"]].minute for n in page["nodes"]] == [3, 2, 1]
    assert page["pageInfo"]["hasNextPage"]
    assert not page["pageInfo"]["hasPreviousPage"]


async def test_a_caller_sees_and_counts_only_their_own(secured_http: httpx.AsyncClient) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    alices = await build(alice, "alice")
    carols = await build(carol, "carol")
    for user, built in ((alice, alices), (carol, carols)):
        page = (await user.data(PAGE, {"first": 50}))["toolCalls"]
        assert page["totalCount"] == len(CALLS)
        assert {n["id"] for n in page["nodes"]} == set(built.calls)
    # Asking for another's conversation: nothing, as for one that does not exist.
    for conversation in (carols.conversations[0], to_global_id("Conversation", uuid.uuid4())):
        asked = {"f": {"conversationIds": [conversation]}, "first": 50}
        page = (await alice.data(PAGE, asked))["toolCalls"]
        assert (page["totalCount"], page["nodes"]) == (0, [])


async def test_bad_input_is_refused(gql: GraphQLClient) -> None:
    built = await build(gql, "user-1")
    at = T0.isoformat()
    for variables in (
        {"after": "bm90IGEgY3Vyc29y"},
        {"before": "W10="},
        {"f": {"startedAfter": at, "startedBefore": at}},
        {"f": {"conversationIds": list(built.calls)[:1]}},  # a ToolCall's id
        {"f": {"toolNames": [f"tool {n}" for n in range(MAX_TOOL_NAMES + 1)]}},
        {"first": 1, "last": 1},
    ):
        assert await gql.error_code(PAGE, variables) == "BAD_USER_INPUT", variables
    # A cursor of another list: a conversation's value where a start must be.
    conversations = "{ conversations(first: 1, orderBy: {field: COST}) { pageInfo { endCursor } } }"
    cursor = (await gql.data(conversations))["conversations"]["pageInfo"]["endCursor"]
    assert await gql.error_code(PAGE, {"after": cursor}) == "BAD_USER_INPUT"


WITH_RELATIONS = """query($first: Int) { toolCalls(first: $first) { totalCount nodes {
  toolName message { conversation { id title } } span { name } } } }"""


async def count_page(gql: GraphQLClient, sql: StatementCounter, first: int) -> int:
    sql.reset()
    nodes = (await gql.data(WITH_RELATIONS, {"first": first}))["toolCalls"]["nodes"]
    assert len(nodes) == first
    assert all(n["message"]["conversation"]["id"] and n["span"]["name"] for n in nodes)
    return sql.count


async def test_a_page_with_conversations_and_spans_is_a_few_statements(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    await build(gql, "user-1")
    # The page, its total, then one statement each for messages, conversations, spans.
    assert await count_page(gql, sql, 1) == await count_page(gql, sql, len(CALLS)) <= 5
