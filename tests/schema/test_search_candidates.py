"""What a search ranks: the newest matches (resolvers.search.CANDIDATES of them) of the
kinds asked for, through /graphql, on SQLite and PostgreSQL alike; and what a span's
document holds (models.search.SPAN_TEXT_CHARS)."""

from __future__ import annotations

from typing import Any

from models.search import SPAN_TEXT_CHARS
from resolvers.search import CANDIDATES
from tests import factories, search_documents
from tests.graphql_client import GraphQLClient

SEARCH = """
query($q: String!, $f: SearchFilter, $first: Int, $after: String) {
  search(query: $q, filter: $f, first: $first, after: $after) {
    edges { cursor node { rank message { id } span { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def page(
    gql: GraphQLClient, query: str, size: int, after: str | None = None, **search_filter: Any
) -> dict[str, Any]:
    variables = {"q": query, "f": search_filter, "first": size, "after": after}
    found: dict[str, Any] = (await gql.data(SEARCH, variables))["search"]
    return found


async def every_hit(
    gql: GraphQLClient, query: str, size: int = 500, **search_filter: Any
) -> list[dict[str, Any]]:
    """The hits of every page, in order, following the cursors."""
    hits: list[dict[str, Any]] = []
    after = None
    while True:
        found = await page(gql, query, size, after, **search_filter)
        hits += [edge["node"] for edge in found["edges"]]
        if not found["pageInfo"]["hasNextPage"]:
            return hits
        after = found["pageInfo"]["endCursor"]


def ids(hits: list[dict[str, Any]], kind: str = "message") -> list[str]:
    return [hit[kind]["id"] for hit in hits]


async def conversations(gql: GraphQLClient, count: int = 10) -> list[str]:
    return [(await factories.conversation(gql))["id"] for _ in range(count)]


async def test_a_common_word_ranks_its_newest_matches_only(gql: GraphQLClient) -> None:
    spread = await conversations(gql)
    # The densest matches of all, but older than as many matches as a search ranks.
    oldest = await search_documents.messages(gql, spread, ["refund refund refund"] * 3)
    newest = await search_documents.messages(
        gql,
        spread,
        [
            f"{'refund ' * (1 + n % 2)}for the order {'item ' * (n % 3)}{n}"
            for n in range(CANDIDATES)
        ],
    )
    first = await page(gql, "refund", 400)
    # Written while the pages are read: newer and denser than any, yet not on later pages.
    later = await search_documents.messages(gql, spread, ["refund refund refund"] * 2)
    hits = [edge["node"] for edge in first["edges"]]
    after = first["pageInfo"]["endCursor"]
    while after is not None:
        found = await page(gql, "refund", 400, after)
        hits += [edge["node"] for edge in found["edges"]]
        after = found["pageInfo"]["endCursor"] if found["pageInfo"]["hasNextPage"] else None

    assert sorted(ids(hits)) == sorted(newest)
    ranks = [hit["rank"] for hit in hits]
    assert ranks == sorted(ranks, reverse=True)
    assert len(set(ranks)) > 1, "equal ranks would not show the order"
    # A new search ranks the newest matches again, the latest two first.
    again = await every_hit(gql, "refund", size=300)
    assert set(ids(again)[:2]) == set(later)
    assert len(again) == CANDIDATES
    assert not set(ids(again)) & set(oldest)


async def test_later_pages_keep_the_first_pages_order(gql: GraphQLClient) -> None:
    spread = await conversations(gql, 1)
    contents = [f"refund {'please ' * n}" for n in range(7)]
    sent = await search_documents.messages(gql, spread, contents)
    everything = ids(await every_hit(gql, "refund"))
    assert sorted(everything) == sorted(sent)
    for size in (1, 2, 3):
        assert ids(await every_hit(gql, "refund", size=size)) == everything


async def test_the_kind_is_chosen_before_the_newest_are_cut(gql: GraphQLClient) -> None:
    spread = await conversations(gql, 1)
    messages = await search_documents.messages(gql, spread, ["refund for the parcel"] * 3)
    trace = await factories.trace(gql, spread[0])
    spans = await search_documents.spans(gql, trace["id"], [{"a": "refund"}] * CANDIDATES)

    # As many newer spans match as a search ranks: a search of messages still finds its own.
    only_messages = await every_hit(gql, "refund")
    assert sorted(ids(only_messages)) == sorted(messages)
    assert all(hit["span"] is None for hit in only_messages)
    by_role = await every_hit(gql, "refund", roles=["USER"], includeSpans=True)
    assert sorted(ids(by_role)) == sorted(messages)
    # With spans, the newest matches are the spans.
    with_spans = await every_hit(gql, "refund", includeSpans=True)
    assert sorted(ids(with_spans, "span")) == sorted(spans)
    assert all(hit["message"] is None for hit in with_spans)


async def test_a_span_is_searched_by_the_start_of_its_outputs(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, conversation))["id"]
    filler = "lorem " * (SPAN_TEXT_CHARS // 6)
    long = await factories.span(gql, trace, kind="RETRIEVER", inputs={"question": "whereabouts"})
    await factories.end_span(gql, long["id"], outputs={"answer": f"sunny {filler} faraway"})
    short = await factories.span(gql, trace, kind="TOOL", inputs={"question": "marseille"})

    async def spans_with(word: str) -> list[str]:
        return ids(await every_hit(gql, word, includeSpans=True), "span")

    # Its outputs up to the bound; not its inputs, and nothing while it has no outputs.
    assert await spans_with("sunny") == [long["id"]]
    assert await spans_with("faraway") == []
    assert await spans_with("whereabouts") == []
    assert await spans_with("marseille") == []
    await factories.end_span(gql, short["id"], outputs={"answer": "rainy", "city": "lyon"})
    assert await spans_with("rainy lyon") == [short["id"]]
    assert await spans_with("marseille") == []
