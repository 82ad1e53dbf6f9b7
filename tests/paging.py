"""A whole root list read through /graphql page by page, forwards (`first`/`after`) or
backwards (`last`/`before`): the ids of its nodes in list order.

`document` takes $first, $after, $last and $before and selects, in `field`,
`pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id }`.
"""

from __future__ import annotations

from typing import Any

from tests.graphql_client import GraphQLClient


async def forwards(
    client: GraphQLClient, document: str, field: str, variables: dict[str, Any], size: int
) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        found = await client.data(document, {**variables, "first": size, "after": after})
        page = found[field]
        ids += [node["id"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        after = page["pageInfo"]["endCursor"]


async def backwards(
    client: GraphQLClient, document: str, field: str, variables: dict[str, Any], size: int
) -> list[str]:
    ids: list[str] = []
    before = None
    while True:
        found = await client.data(document, {**variables, "last": size, "before": before})
        page = found[field]
        ids = [node["id"] for node in page["nodes"]] + ids
        if not page["pageInfo"]["hasPreviousPage"]:
            return ids
        before = page["pageInfo"]["startCursor"]


async def assert_pages_both_ways(
    client: GraphQLClient,
    document: str,
    field: str,
    variables: dict[str, Any],
    size: int,
    expected: list[str],
) -> None:
    """Read forwards and backwards, pages of `size`, the list is `expected`."""
    assert await forwards(client, document, field, variables, size) == expected, variables
    assert await backwards(client, document, field, variables, size) == expected, variables
