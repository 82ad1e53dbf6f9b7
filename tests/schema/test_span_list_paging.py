"""The root `spans` list read page by page: every matching span once, in list order, for
each ordering in both directions, forwards (`first`/`after`) and backwards
(`last`/`before`). For a caller who sees everything, a value order is read group by group
(each kind's spans by duration, each model's by tokens or cost: ranges of indexes) and
merged; a signed-in caller's spans are read and sorted. Both must give the same list.

The spans tie on every value and hold each edge of those readings: running spans (no
duration), a model call without usage, usage without a model, a cost without tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from resolvers.ids import from_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user
from tests.paging import assert_pages_both_ways

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
PAGE = """query($f: SpanFilter, $o: SpanOrder, $first: Int, $after: String, $last: Int,
  $before: String) {
  spans(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id } } }"""


@dataclass(frozen=True)
class Given:
    kind: str
    model: str | None
    minute: int
    duration: int | None  # milliseconds; None: still running
    tokens: int = 0
    cost: float = 0.0
    status: str = "OK"


SPANS = [
    Given("LLM", "gpt", 0, 100, 15, 0.01),
    Given("LLM", "gpt", 1, 100, 15, 0.01),
    Given("LLM", "claude", 2, 300, 30, 0.03, "ERROR"),
    Given("LLM", "claude", 3, None),
    Given("EMBEDDING", "embed", 4, 20, 8, 0.0001),
    Given("TOOL", None, 5, 300),
    Given("TOOL", None, 5, 50),
    Given("TOOL", None, 6, None),
    Given("TOOL", None, 7, 50, status="ERROR"),
    Given("AGENT", None, 8, 1000, 40, 0.02),
    Given("AGENT", None, 9, 1000),
    Given("CHAIN", None, 10, 5, cost=0.005),
    Given("LLM", "gpt", 11, 5, 15, 0.02),
    Given("LLM", "gpt", 12, None),
]
FILTERS: list[tuple[dict[str, Any], Any]] = [
    ({}, lambda s: True),
    ({"kinds": ["LLM", "AGENT"]}, lambda s: s.kind in ("LLM", "AGENT")),
    ({"models": ["gpt", "embed"]}, lambda s: s.model in ("gpt", "embed")),
    (
        {"statuses": ["OK"], "minDurationMs": 20},
        lambda s: s.status == "OK" and (s.duration or 0) >= 20,
    ),
]
VALUES = {
    "START": lambda s: T0 + timedelta(minutes=s.minute),
    "DURATION": lambda s: s.duration,
    "TOKENS": lambda s: s.tokens,
    "COST": lambda s: s.cost,
}


async def build(client: GraphQLClient, owner: str) -> dict[str, Given]:
    """The spans, by their global ids."""
    conversation = (await factories.conversation(client, owner={"participantId": owner}))["id"]
    trace = (await factories.trace(client, conversation))["id"]
    found = {}
    for given in SPANS:
        start = T0 + timedelta(minutes=given.minute)
        span = await factories.span(
            client, trace, kind=given.kind, model=given.model, startedAt=start.isoformat()
        )
        if given.duration is not None:
            ended = start + timedelta(milliseconds=given.duration)
            await factories.end_span(
                client,
                span["id"],
                endedAt=ended.isoformat(),
                status=given.status,
                inputTokens=given.tokens,
                cost=given.cost,
            )
        found[span["id"]] = given
    return found


def in_list_order(spans: dict[str, Given], field: str, descending: bool) -> list[str]:
    """Ids by value then id in the direction asked, spans without a value last."""
    value = VALUES[field]

    def key(span_id: str) -> Any:
        return (value(spans[span_id]), from_global_id(span_id)[1])

    present = sorted((i for i in spans if value(spans[i]) is not None), key=key)
    missing = sorted((i for i in spans if value(spans[i]) is None), key=key)
    if descending:
        present.reverse()
        missing.reverse()
    return present + missing


async def check_every_order(client: GraphQLClient, spans: dict[str, Given]) -> None:
    for spans_filter, matches in FILTERS:
        wanted = {i: s for i, s in spans.items() if matches(s)}
        total = (await client.data(PAGE, {"f": spans_filter}))["spans"]["totalCount"]
        assert total == len(wanted), spans_filter
        for field in VALUES:
            for direction in ("ASC", "DESC"):
                order = {"field": field, "direction": direction}
                expected = in_list_order(wanted, field, direction == "DESC")
                variables = {"f": spans_filter, "o": order}
                await assert_pages_both_ways(client, PAGE, "spans", variables, 3, expected)


async def test_pages_hold_every_span_once_in_order(gql: GraphQLClient) -> None:
    await check_every_order(gql, await build(gql, "user-1"))


async def test_a_signed_in_caller_pages_the_same(secured_http: httpx.AsyncClient) -> None:
    alice = as_user(secured_http, "alice")
    await check_every_order(alice, await build(alice, "alice"))
