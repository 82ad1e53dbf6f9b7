"""The conversations list ordered by cost, total tokens and message count: keyset pages
forwards and backwards across ties and zeros, for a caller who sees everything and for
one who sees their own conversations alone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from resolvers.ids import from_global_id
from resolvers.pagination import encode_cursor
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user

PAGE = """query($order: ConversationOrder, $first: Int, $after: String, $last: Int,
               $before: String) {
  conversations(orderBy: $order, first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { title cost totalTokens messageCount }
  }
}"""

# (title, owner, the usage of each of its messages: input tokens, output tokens, cost).
# Ties at zero and at 0.5 USD / 100 tokens / one message, within alice's share too.
SEEDED: list[tuple[str, str, list[tuple[int, int, str]]]] = [
    ("empty-a", "alice", []),
    ("empty-b", "bob", []),
    ("half-a", "alice", [(60, 40, "0.5")]),
    ("half-b", "bob", [(30, 20, "0.25"), (30, 20, "0.25")]),
    ("half-c", "alice", [(200, 100, "0.5")]),
    ("two", "bob", [(5, 5, "2")]),
    ("chatty", "alice", [(0, 0, "0")] * 3),
]
ORDERS = ["COST", "TOTAL_TOKENS", "MESSAGE_COUNT"]


@dataclass(frozen=True)
class Seeded:
    title: str
    owner: str
    id: uuid.UUID
    values: dict[str, Any]


async def seed(gql: GraphQLClient) -> list[Seeded]:
    found = []
    for title, owner, usages in SEEDED:
        conv = await factories.conversation(gql, title=title, owner={"participantId": owner})
        for input_tokens, output_tokens, cost in usages:
            await factories.message(
                gql,
                conv["id"],
                senderId=owner,
                model="gpt-4o",
                inputTokens=input_tokens,
                outputTokens=output_tokens,
                cost=float(cost),
            )
        values = {
            "COST": sum((Decimal(u[2]) for u in usages), Decimal(0)),
            "TOTAL_TOKENS": sum(u[0] + u[1] for u in usages),
            "MESSAGE_COUNT": len(usages),
        }
        found.append(Seeded(title, owner, from_global_id(conv["id"])[1], values))
    return found


def expected(seeded: list[Seeded], field: str, direction: str) -> list[str]:
    """Titles in list order: by the value, ties by id, both in the order's direction."""
    ordered = sorted(seeded, key=lambda s: (s.values[field], s.id), reverse=direction == "DESC")
    return [s.title for s in ordered]


async def walk_forwards(gql: GraphQLClient, order: dict[str, str]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        variables = {"order": order, "first": 2, "after": after}
        page = (await gql.data(PAGE, variables))["conversations"]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def walk_backwards(gql: GraphQLClient, order: dict[str, str]) -> list[dict[str, Any]]:
    pages: list[list[dict[str, Any]]] = []
    before = None
    while True:
        variables = {"order": order, "last": 2, "before": before}
        page = (await gql.data(PAGE, variables))["conversations"]
        assert page["pageInfo"]["hasNextPage"] is (before is not None)
        pages.insert(0, page["nodes"])
        if not page["pageInfo"]["hasPreviousPage"]:
            return [node for nodes in pages for node in nodes]
        before = page["pageInfo"]["startCursor"]


def shown(seeded: Seeded, field: str) -> Any:
    """The value as the list shows it (cost a Float, the others Longs)."""
    value = seeded.values[field]
    return float(value) if field == "COST" else value


@pytest.mark.parametrize("field", ORDERS)
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_pages_cover_the_list_once_forwards_and_backwards(
    gql: GraphQLClient, secured_http: httpx.AsyncClient, field: str, direction: str
) -> None:
    seeded = await seed(gql)
    order = {"field": field, "direction": direction}
    alice = as_user(secured_http, "alice")
    callers = [(gql, seeded), (alice, [s for s in seeded if s.owner == "alice"])]
    key = {"COST": "cost", "TOTAL_TOKENS": "totalTokens", "MESSAGE_COUNT": "messageCount"}[field]
    for caller, visible in callers:
        titles = expected(visible, field, direction)
        for walk in (walk_forwards, walk_backwards):
            nodes = await walk(caller, order)
            assert [node["title"] for node in nodes] == titles, walk.__name__
            by_title = {s.title: s for s in visible}
            assert [node[key] for node in nodes] == [shown(by_title[t], field) for t in titles]


async def test_the_default_direction_is_largest_first(gql: GraphQLClient) -> None:
    seeded = await seed(gql)
    data = await gql.data(PAGE, {"order": {"field": "COST"}, "first": 3})
    assert [n["title"] for n in data["conversations"]["nodes"]] == expected(seeded, "COST", "DESC")[
        :3
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # A cost travels as whole nano-dollars: a float is no cursor of this list.
        ("COST", 0.5),
        ("COST", 2**63),
        # message_count is a 32-bit column; total_tokens a 64-bit one.
        ("MESSAGE_COUNT", 2**31),
        ("TOTAL_TOKENS", 2**63),
        ("TOTAL_TOKENS", "2024-01-01T00:00:00+00:00"),
    ],
)
async def test_a_forged_cursor_is_bad_input(gql: GraphQLClient, field: str, value: Any) -> None:
    await seed(gql)
    cursor = encode_cursor(value, str(uuid.uuid4()))
    variables = {"order": {"field": field}, "first": 2, "after": cursor}
    assert await gql.error_code(PAGE, variables) == "BAD_USER_INPUT"
