"""Writers racing on one conversation: sequence numbers and roll-ups stay exact."""

from __future__ import annotations

import asyncio

from tests import factories
from tests.graphql_client import GraphQLClient

WRITERS = 12


async def test_concurrent_sends_get_distinct_sequence_numbers(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    sent = await asyncio.gather(
        *(
            factories.message(gql, conv["id"], "seq", content=f"m{n}", inputTokens=2, cost=0.5)
            for n in range(WRITERS)
        )
    )
    assert sorted(m["seq"] for m in sent) == list(range(1, WRITERS + 1))
    totals = await gql.data(
        """query($c: ID!) { conversation(id: $c) {
             messageCount inputTokens cost messages { totalCount } } }""",
        {"c": conv["id"]},
    )
    assert totals["conversation"] == {
        "messageCount": WRITERS,
        "inputTokens": 2 * WRITERS,
        "cost": 0.5 * WRITERS,
        "messages": {"totalCount": WRITERS},
    }


async def test_concurrent_registrations_of_one_definition_make_one_version(
    gql: GraphQLClient,
) -> None:
    versions = await asyncio.gather(
        *(
            factories.component_version(gql, "prompt", {"text": "same"}, fields="id versionNumber")
            for _ in range(WRITERS)
        )
    )
    assert {v["id"] for v in versions} == {versions[0]["id"]}
    assert versions[0]["versionNumber"] == 1
