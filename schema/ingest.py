"""Bulk ingestion in the API: the `ingest` mutation and its per-item results."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.ingest import bulk
from schema.ingest_inputs import IngestItem


@strawberry.type(description="Why one item was not applied; the other items are not affected.")
class IngestError:
    message: str
    code: str = strawberry.field(description="As `extensions.code` of the item's mutation.")


@strawberry.type
class IngestItemResult:
    index: int = strawberry.field(description="The item's position in the batch (0-based).")
    client_event_id: str
    ok: bool
    id: strawberry.ID | None = strawberry.field(
        description="The global id of what the item wrote (or ended, or appended to)."
    )
    error: IngestError | None


def _result(found: bulk.ItemResult) -> IngestItemResult:
    error = found.error
    return IngestItemResult(
        index=found.index,
        client_event_id=found.client_event_id,
        ok=error is None,
        id=None if found.node_id is None else strawberry.ID(found.node_id),
        error=None if error is None else IngestError(message=error.message, code=error.code),
    )


@strawberry.type
class IngestMutations:
    @strawberry.mutation(
        description="Up to INGEST_MAX_ITEMS writes (default 1000), in order, each as its own "
        "mutation would do it; one failing item does not stop the others. Needs the INGEST scope."
    )
    async def ingest(
        self, info: Info[Context, None], batch: list[IngestItem]
    ) -> list[IngestItemResult]:
        items = [bulk.Item(item.client_event_id, item.to_command) for item in batch]
        results = [_result(found) for found in await bulk.ingest(info.context, items)]
        # Counted once the batch committed (metrics: signal "ingest", beside OTLP's).
        accepted = sum(result.ok for result in results)
        info.context.counters.ingested("ingest", accepted, len(results) - accepted)
        return results
