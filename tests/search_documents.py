"""Many search documents at once, through `ingest` (up to 1,000 writes a request): enough
of them to pass the number of candidates a search ranks (resolvers.search.CANDIDATES)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.graphql_client import GraphQLClient

INGEST = (
    """mutation($batch: [IngestItem!]!) { ingest(batch: $batch) { ok id error { message } } }"""
)
BATCH = 1000


async def ingest(gql: GraphQLClient, items: list[dict[str, Any]]) -> list[str]:
    """The global ids of what the items wrote, in order; every item must succeed."""
    ids: list[str] = []
    for start in range(0, len(items), BATCH):
        batch = [
            {"clientEventId": str(uuid.uuid4()), **item} for item in items[start : start + BATCH]
        ]
        results = (await gql.data(INGEST, {"batch": batch}))["ingest"]
        assert all(result["ok"] for result in results), results
        ids += [result["id"] for result in results]
    return ids


async def messages(
    gql: GraphQLClient, conversations: list[str], contents: list[str], sender: str = "user-1"
) -> list[str]:
    """The messages, in turn to each conversation: each replies to the one before it in
    its conversation, and SQLite cascades a deletion down a chain of replies no deeper
    than its trigger depth (1,000)."""
    return await ingest(
        gql,
        [
            {
                "message": {
                    "conversationId": conversations[n % len(conversations)],
                    "senderId": sender,
                    "content": content,
                }
            }
            for n, content in enumerate(contents)
        ],
    )


async def spans(gql: GraphQLClient, trace: str, outputs: list[Any]) -> list[str]:
    """TOOL spans (a kind that is searched) started and ended with these outputs (what
    their documents hold)."""
    ids = [str(uuid.uuid4()) for _ in outputs]
    started = [
        {"span": {"start": {"id": span, "traceId": trace, "name": f"step {n}", "kind": "TOOL"}}}
        for n, span in enumerate(ids)
    ]
    written = await ingest(gql, started)
    await ingest(
        gql,
        [
            {"span": {"end": {"spanId": span, "outputs": value}}}
            for span, value in zip(written, outputs, strict=True)
        ],
    )
    return written
