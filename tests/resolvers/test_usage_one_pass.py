"""A restricted caller's `usage` grouped by a name, which no roll-up holds any part of,
is read from the rows in one pass (resolvers.analytics.usage_one_pass): past
EXACT_LIMIT one statement answers, exactly as the sums statement and the sketch
statement read one after the other would; below it, latencies stay exact."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from config import Settings
from models.base import from_nanos
from resolvers.analytics import usage as usage_reads
from resolvers.analytics.sketch import bucket_value
from resolvers.analytics.usage import UsageGroupBy as By
from resolvers.analytics.usage import UsageQuery, usage
from resolvers.analytics.usage_query import UsageGroup, UsageMeasure, UsageOrder
from resolvers.context import Context
from resolvers.principal import Principal
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.resolvers.test_usage_rollups import assert_sketch_close, spans_with_versions

BY_NAME: list[tuple[By, ...]] = [
    (By.STATUS,),
    (By.AGENT,),
    (By.TOOL, By.DAY),
    (By.AGENT, By.SPAN_KIND, By.STATUS),
]
# (orderBy, first): key order, cut by a sum in SQL, ordered by a latency in Python.
ORDERS: list[tuple[UsageOrder | None, int | None]] = [
    (None, None),
    (UsageOrder(UsageMeasure.COST), 1),
    (UsageOrder(UsageMeasure.LATENCY_P95, descending=False), 2),
]


def answer(group: UsageGroup) -> tuple[Any, ...]:
    return (
        tuple(map(str, group.key.values())),
        group.count,
        group.input_tokens,
        group.output_tokens,
        group.total_tokens,
        group.cost,
        group.error_count,
        group.latency_p50,
        group.latency_p95,
        group.latency_p99,
        group.latency_max,
        group.approximate,
    )


async def two_passes(ctx: Context, q: UsageQuery) -> list[UsageGroup]:
    """What the sums statement, then the sketch statement over the same rows, answer."""
    width = len(q.group_by)
    sketched = {
        tuple(map(str, row[:width])): tuple(bucket_value(b) for b in row[width:])
        for row in await ctx.loaders.fetch(usage_reads.sketch_statement(ctx, q))
    }
    found = []
    for row in await ctx.loaders.fetch(usage_reads.sums_statement(ctx, q)):
        key = dict(zip(q.group_by, row[:width], strict=True))
        *counts, cost, errors = row[width:]
        latencies = sketched.get(tuple(map(str, row[:width])), (None,) * 4)
        # Sketched: `approximate`, the last field.
        measures: tuple[Any, ...] = (*counts, from_nanos(cost), *latencies, errors, True)
        found.append(UsageGroup(key, *measures))
    return usage_reads.ordered(q, found)


async def test_one_pass_answers_as_two_passes_do(
    gql: GraphQLClient,
    app: Starlette,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    sql: StatementCounter,
) -> None:
    mine = (await factories.conversation(gql))["id"]
    for seed in range(2):
        await spans_with_versions(gql, mine, seed)
    theirs = (await factories.conversation(gql, owner={"participantId": "keeper"}))["id"]
    await spans_with_versions(gql, theirs, seed=9)
    # The owner (factories.conversation's), who sees none of the other tests' data.
    ctx = Context.create(app.state.database, settings, principal=Principal.user("user-1"))
    for group_by in BY_NAME:
        await assert_sketch_close(ctx, UsageQuery(group_by=group_by), monkeypatch)
    # Model calls of their own: one timed, one not (in the sums, in no latency), and one
    # of an agent whose every call is untimed (a group without latencies).
    for sender, latency in (("agent-1", 700), ("agent-1", None), ("agent-2", None)):
        await factories.message(
            gql, mine, senderId=sender, senderType="AGENT", role="ASSISTANT", inputTokens=3,
            cost=0.5, latencyMs=latency,
        )  # fmt: skip
    for group_by in BY_NAME:
        for order, first in ORDERS:
            q = UsageQuery(group_by=group_by, order=order, first=first)
            monkeypatch.setattr(usage_reads, "EXACT_LIMIT", 0)
            sql.reset()
            found = [answer(group) for group in await usage(ctx, q)]
            assert sql.count == 1, q
            monkeypatch.undo()
            assert found == [answer(group) for group in await two_passes(ctx, q)], q
