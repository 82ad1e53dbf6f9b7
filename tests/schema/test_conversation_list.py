"""The conversations list: filters, ordering and keyset pagination."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.graphql_client import GraphQLClient

LIST = """query($filter: ConversationFilter, $order: ConversationOrder, $first: Int, $after: String,
               $last: Int, $before: String) {
  conversations(filter: $filter, orderBy: $order, first: $first, after: $after, last: $last,
                before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { title } }
  }
}"""


async def titles(gql: GraphQLClient, **variables: Any) -> list[str]:
    found = (await gql.data(LIST, variables))["conversations"]
    return [edge["node"]["title"] for edge in found["edges"]]


async def seed(gql: GraphQLClient, count: int) -> list[str]:
    ids = []
    for n in range(count):
        conv = await factories.conversation(gql, title=f"c{n}")
        ids.append(conv["id"])
    return ids


async def test_default_order_is_most_recently_active_first(gql: GraphQLClient) -> None:
    ids = await seed(gql, 3)
    await factories.message(gql, ids[0])
    assert await titles(gql) == ["c0", "c2", "c1"]
    order = {"field": "CREATED_AT", "direction": "ASC"}
    assert await titles(gql, order=order) == ["c0", "c1", "c2"]


async def test_forward_and_backward_pages_cover_the_list_once(gql: GraphQLClient) -> None:
    await seed(gql, 7)
    order = {"field": "CREATED_AT", "direction": "ASC"}
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.data(LIST, {"order": order, "first": 3, "after": after}))["conversations"]
        assert page["totalCount"] == 7
        seen += [edge["node"]["title"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"c{n}" for n in range(7)]
    last = (await gql.data(LIST, {"order": order, "last": 2}))["conversations"]
    assert [e["node"]["title"] for e in last["edges"]] == ["c5", "c6"]
    assert last["pageInfo"]["hasPreviousPage"] is True
    before = last["pageInfo"]["startCursor"]
    assert await titles(gql, order=order, last=2, before=before) == ["c3", "c4"]


async def test_a_page_is_stable_when_rows_are_added(gql: GraphQLClient) -> None:
    await seed(gql, 4)
    order = {"field": "CREATED_AT", "direction": "ASC"}
    first = (await gql.data(LIST, {"order": order, "first": 2}))["conversations"]
    await factories.conversation(gql, title="new")
    rest = await titles(gql, order=order, first=10, after=first["pageInfo"]["endCursor"])
    assert rest == ["c2", "c3", "new"]


async def test_filters(gql: GraphQLClient) -> None:
    a = await factories.conversation(gql, title="Trip to Rome", tags=["travel"])
    await factories.conversation(
        gql, title="Agents talking", kind="AGENT_AGENT", owner={"participantId": "planner"}
    )
    await factories.conversation(
        gql, title="100% sure", participants=[{"participantId": "bob"}], tags=["misc"]
    )
    await gql.data("mutation($c: ID!) { archiveConversation(id: $c) { id } }", {"c": a["id"]})
    # Archived: listed only when asked for (tests/schema/test_conversation_contract.py).
    archived = ["ARCHIVED"]
    assert await titles(gql, filter={"tag": "travel", "statuses": archived}) == ["Trip to Rome"]
    assert await titles(gql, filter={"kinds": ["AGENT_AGENT"]}) == ["Agents talking"]
    assert await titles(gql, filter={"statuses": ["ARCHIVED"]}) == ["Trip to Rome"]
    assert await titles(gql, filter={"participantId": "bob"}) == ["100% sure"]
    assert await titles(gql, filter={"ownerId": "planner"}) == ["Agents talking"]
    assert await titles(gql, filter={"titleContains": "ROME", "statuses": archived}) == [
        "Trip to Rome"
    ]
    # LIKE wildcards in the search text are matched literally.
    assert await titles(gql, filter={"titleContains": "0%"}) == ["100% sure"]
    assert await titles(gql, filter={"titleContains": "%"}) == ["100% sure"]
    assert await titles(gql, filter={"createdAfter": "2999-01-01T00:00:00+00:00"}) == []
    both = {"createdAfter": "2000-01-01T00:00:00+00:00", "statuses": ["ACTIVE"]}
    assert sorted(await titles(gql, filter=both)) == ["100% sure", "Agents talking"]
    counted = await gql.data(
        'query { conversations(filter: {tag: "misc"}, first: 0) { totalCount edges { cursor } } }'
    )
    assert counted["conversations"] == {"totalCount": 1, "edges": []}


async def test_title_contains_folds_case_beyond_ascii(gql: GraphQLClient) -> None:
    """The same matches on SQLite and PostgreSQL, for any alphabet."""
    for title in ("École d'été", "ÉCOLE", "ecole", "Ωμέγα", "a/b_c", None):
        await factories.conversation(gql, title=title)

    async def matching(text: str) -> list[str]:
        return sorted(await titles(gql, filter={"titleContains": text}))

    assert await matching("école") == ["ÉCOLE", "École d'été"]
    assert await matching("ÉTÉ") == ["École d'été"]
    assert await matching("ωμ") == ["Ωμέγα"]
    assert await matching("ECOLE") == ["ecole"]
    # The LIKE escape character and wildcards are plain characters too.
    assert await matching("/b_") == ["a/b_c"]
    assert await matching("a_b") == []


@pytest.mark.parametrize(
    "variables",
    [
        {"first": 501},
        {"first": -1},
        {"last": 501},
        {"first": 1, "last": 1},
        {"after": "bm90IGEgY3Vyc29y"},
        {"after": "***"},
    ],
)
async def test_bad_page_arguments(gql: GraphQLClient, variables: dict[str, Any]) -> None:
    await seed(gql, 1)
    assert await gql.error_code(LIST, variables) == "BAD_USER_INPUT"


async def test_page_size_defaults_to_50_and_allows_500(gql: GraphQLClient) -> None:
    for n in range(51):
        await factories.conversation(gql, title=f"c{n}")
    assert len(await titles(gql)) == 50
    assert len(await titles(gql, first=500)) == 51
