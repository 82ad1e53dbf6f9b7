"""The roll-ups answer `usage` exactly as the rows do, whatever wrote or deleted them.

Random mixes of messages, API spans (with component versions, errors and latencies),
ingested runs, deletions and forks (tests/schema/test_usage_model.py's actions), then
a conversation deleted and a retention sweep; after each stage every grouping and range
is read both ways, before and after compaction, for a caller who sees everything and
one who sees some of it. Latencies from the sketch are within its relative error.
Traces belong to a few users, so that the per-user roll-ups are read too.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlmodel import col
from starlette.applications import Starlette

from config import Settings
from models import (
    LatencyMonth,
    NameLatencyMonth,
    SpanComponentVersion,
    Trace,
    UserLatencyDay,
    UserLatencyMonth,
    UserUsageDay,
)
from models.base import utcnow
from models.enums import SpanKind
from resolvers import retention
from resolvers.analytics import usage as usage_reads
from resolvers.analytics.sketch import RELATIVE_ERROR
from resolvers.analytics.usage import UsageGroupBy as By
from resolvers.analytics.usage import UsageQuery, usage, usage_statement
from resolvers.analytics.usage_rollups import (
    EVERYONE,
    NAMED,
    PER_USER,
    Stored,
    compact,
    stored_days,
)
from resolvers.context import Context
from resolvers.ids import from_global_id
from resolvers.principal import DEVELOPMENT_USER, Principal
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.schema.test_fork_export import DELETE, EXPORT, IMPORT
from tests.schema.test_usage_model import World, actions

GROUPINGS: list[tuple[By, ...]] = [
    (),
    (By.MODEL,),
    (By.PROVIDER,),
    (By.SPAN_KIND,),
    (By.CONVERSATION,),
    (By.USER,),
    (By.DAY,),
    (By.HOUR,),
    (By.COMPONENT_VERSION,),
    (By.MODEL, By.HOUR),
    (By.COMPONENT_VERSION, By.SPAN_KIND),
    (By.USER, By.DAY),
    (By.STATUS,),
    (By.SPAN_NAME,),
    (By.TOOL,),
    (By.AGENT,),
    (By.TOOL, By.DAY),
    (By.AGENT, By.SPAN_KIND, By.STATUS),
    # Which the per-name days do not hold: read from the rows alone.
    (By.SPAN_NAME, By.HOUR),
    (By.TOOL, By.MODEL),
]
# The users spans_with_versions' traces belong to (None: a trace without one), and the
# agents they run for (factories.conversation's agent, or none).
USERS = ("ann", "ben", None)
AGENTS = ("agent-1", None, "agent-1")
# Queries of one user's calls: (groupBy, userId).
OF_ONE_USER: list[tuple[tuple[By, ...], str]] = [((), "ann"), ((By.DAY,), "ann")]
HOUR = timedelta(hours=1)


def ranges() -> list[tuple[Any, Any]]:
    now = utcnow()
    hour = now.replace(minute=0, second=0, microsecond=0)
    return [
        (None, None),
        (now - timedelta(minutes=90), now + timedelta(minutes=30)),
        (hour - 3 * HOUR, hour + 2 * HOUR),
        (now - timedelta(minutes=1), now + timedelta(minutes=1)),
        (now - timedelta(days=45), now - timedelta(days=1, minutes=7)),
    ]


def queries(start: Any, end: Any) -> list[UsageQuery]:
    """Every grouping, one user's calls, and calls by name filtered, over a range."""
    grouped = [(group_by, None) for group_by in GROUPINGS]
    found = [
        UsageQuery(group_by=group_by, started_from=start, started_to=end, user_id=user)
        for group_by, user in grouped + OF_ONE_USER
    ]
    by_tool = UsageQuery(group_by=(By.TOOL,), started_from=start, started_to=end)
    return [
        *found,
        replace(by_tool, kinds=[SpanKind.TOOL]),
        replace(by_tool, models=["m-1"]),
        replace(by_tool, user_id="ann"),
    ]


async def agree(app: Starlette, settings: Settings) -> None:
    """Every grouping and range, both callers: the roll-ups' answer is the rows'."""
    for principal in (Principal.development(), Principal.user(DEVELOPMENT_USER)):
        ctx = Context.create(app.state.database, settings, principal=principal)
        for start, end in ranges():
            for q in queries(start, end):
                rows = await ctx.loaders.fetch(usage_statement(ctx, q))
                width = len(q.group_by)
                expected = sorted(
                    (tuple(map(str, row[:width])), *row[width : width + 5], row[-1]) for row in rows
                )
                found = sorted(
                    (
                        tuple(map(str, g.key.values())),
                        g.count,
                        g.input_tokens,
                        g.output_tokens,
                        g.total_tokens,
                        g.cost,
                        g.error_count,
                    )
                    for g in await usage(ctx, q)
                )
                assert found == expected, (principal, q)


RECENT = (timedelta(0), HOUR, timedelta(days=2))


async def spans_with_versions(
    gql: GraphQLClient, conversation: str, seed: int, ages: tuple[timedelta, ...] = RECENT
) -> None:
    """Spans of every kind and two names, in traces of each of USERS (and AGENTS): some
    with one or two component versions, errors, latencies, started one of `ages` ago (by
    default now, an hour or two days ago)."""
    rng = random.Random(seed)
    versions = [
        (await factories.component_version(gql, f"prompt-{i}", {"text": f"v{i}"}))["id"]
        for i in range(2)
    ]
    traces = [
        (await factories.trace(gql, conversation, userId=user, agentId=agent))["id"]
        for user, agent in zip(USERS, AGENTS, strict=True)
    ]
    for index in range(8):
        started = utcnow() - rng.choice(ages)
        span = await factories.span(
            gql,
            rng.choice(traces),
            kind=rng.choice(["LLM", "TOOL", "CHAIN"]),
            name=rng.choice(["search", "fetch"]),
            startedAt=started.isoformat(),
            componentVersionIds=rng.sample(versions, rng.randint(0, 2)),
        )
        await factories.end_span(
            gql,
            span["id"],
            status=rng.choice(["OK", "ERROR"]),
            endedAt=(started + timedelta(milliseconds=rng.randint(0, 5000))).isoformat(),
            model=rng.choice(["m-1", "m-2", None]),
            inputTokens=rng.randint(0, 900) if index % 3 else 0,
            outputTokens=rng.randint(0, 900),
            cost=rng.choice([None, 0.25]),
        )


@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(actions, min_size=1, max_size=5), seed=st.integers(0, 1000))
async def test_the_rollups_answer_as_the_rows_do(
    gql: GraphQLClient, app: Starlette, settings: Settings, steps: list[Any], seed: int
) -> None:
    world = World(gql)
    for _ in range(2):
        world.conversations.append((await factories.conversation(gql))["id"])
    # Someone else's: the restricted caller does not see it.
    other = (await factories.conversation(gql, owner={"participantId": "keeper"}))["id"]
    world.conversations.append(other)
    await spans_with_versions(gql, world.conversations[0], seed)
    await spans_with_versions(gql, other, seed + 1)
    for step in steps:
        await world.apply(step)
    await agree(app, settings)
    while await compact(app.state.database.sessions):
        pass
    await agree(app, settings)
    doomed = world.conversations[seed % len(world.conversations)]
    await gql.data(
        "mutation($id: ID!) { deleteConversation(id: $id) { deletedId } }", {"id": doomed}
    )
    await agree(app, settings)


async def test_deletes_and_sweeps_keep_the_rollups_right(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    await spans_with_versions(gql, conversation, seed=7)
    started = (utcnow() - 40 * HOUR * 24).isoformat()
    old = (await factories.trace(gql, conversation, startedAt=started, userId="ann"))["id"]
    for _ in range(3):
        span = await factories.span(
            gql, old, kind="LLM", startedAt=(utcnow() - timedelta(days=40)).isoformat()
        )
        await factories.end_span(gql, span["id"], model="m-1", inputTokens=5, outputTokens=7)
    await agree(app, settings)
    policy = replace(settings, retention_trace_days=30, retention_batch_size=2)
    await retention.sweep(Context.create(app.state.database, policy, app.state.bus))
    await agree(app, settings)
    gone = (await factories.conversation(gql))["id"]
    await spans_with_versions(gql, gone, seed=8)
    await factories.message(
        gql, gone, senderId="agent-1", senderType="AGENT", role="ASSISTANT", inputTokens=3, cost=0.5
    )
    # An import counts its spans and messages (as a copy, with new ids).
    document = (await gql.data(EXPORT, {"c": gone}))["conversationExport"]
    await gql.data(IMPORT, {"d": document, "r": True})
    await agree(app, settings)
    await gql.data(DELETE, {"id": gone})
    await agree(app, settings)
    while await compact(app.state.database.sessions):
        pass
    await agree(app, settings)


async def assert_sketch_close(ctx: Context, q: UsageQuery, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sketch counts every call with a latency, and its percentiles are within its
    relative error of the rows' exact ones."""
    exact = {tuple(g.key.values()): g for g in await usage(ctx, q)}
    monkeypatch.setattr(usage_reads, "EXACT_LIMIT", 0)
    sketched = {tuple(g.key.values()): g for g in await usage(ctx, q)}
    bucketed = await ctx.loaders.fetch(usage_reads.buckets_statement(ctx, q))
    monkeypatch.undo()
    assert exact.keys() == sketched.keys()
    assert sum(row[-1] for row in bucketed) == sum(g.count for g in exact.values())
    for key, group in sketched.items():
        assert group.approximate
        assert not exact[key].approximate
        for name in ("latency_p50", "latency_p95", "latency_p99", "latency_max"):
            truth, estimate = getattr(exact[key], name), getattr(group, name)
            if truth is None:
                assert estimate is None
            else:
                assert abs(estimate - truth) <= RELATIVE_ERROR * truth + 1e-9, (key, name)


# (groupBy, userId) the stored sketches answer, over everyone and per user.
SKETCHED: list[tuple[tuple[By, ...], str | None]] = [
    ((), None),
    ((By.MODEL,), None),
    ((By.DAY,), None),
    ((By.COMPONENT_VERSION,), None),
    ((By.USER,), None),
    ((By.USER, By.DAY), None),
    ((By.TOOL,), None),
    ((By.AGENT, By.STATUS, By.DAY), None),
    *OF_ONE_USER,
]


@pytest.mark.parametrize(("group_by", "user"), SKETCHED)
async def test_sketched_latencies_are_within_their_bound(
    gql: GraphQLClient,
    app: Starlette,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    group_by: tuple[By, ...],
    user: str | None,
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    for seed in range(3):
        await spans_with_versions(gql, conversation, seed)
    ctx = Context.create(app.state.database, settings)
    now = utcnow()
    for start, end in ((None, None), (now - timedelta(days=3, minutes=7), now + HOUR)):
        q = UsageQuery(group_by=group_by, started_from=start, started_to=end, user_id=user)
        await assert_sketch_close(ctx, q, monkeypatch)


@pytest.mark.parametrize(("group_by", "user"), SKETCHED)
async def test_whole_months_are_read_from_the_monthly_sketch(
    gql: GraphQLClient,
    app: Starlette,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    group_by: tuple[By, ...],
    user: str | None,
) -> None:
    """Months of spans read over a range with whole months in it: compaction adds the
    day rows it merges to the months once, and a month's day rows it has not merged
    yet (written since) count beside them."""
    conversation = (await factories.conversation(gql))["id"]
    ages = tuple(timedelta(days=days, hours=3) for days in (1, 20, 35, 50, 65, 80))
    ctx = Context.create(app.state.database, settings)
    now = utcnow()
    ranges = [(None, None), (now - timedelta(days=75, hours=5), now - timedelta(hours=30))]
    for seed in range(2):
        await spans_with_versions(gql, conversation, seed, ages)
        for start, end in ranges:
            q = UsageQuery(group_by=group_by, started_from=start, started_to=end, user_id=user)
            await assert_sketch_close(ctx, q, monkeypatch)
        while await compact(app.state.database.sessions):
            pass
        for start, end in ranges:
            q = UsageQuery(group_by=group_by, started_from=start, started_to=end, user_id=user)
            await assert_sketch_close(ctx, q, monkeypatch)
    for table in (LatencyMonth, UserLatencyMonth, NameLatencyMonth):
        months = await ctx.loaders.fetch(select(func.count()).select_from(table))
        assert months[0][0] > 0, table


USAGE_LATENCIES = """query($g: [UsageGroupBy!]) { usage(groupBy: $g) {
  userId count latencyP50Ms latencyMaxMs approximate } }"""


async def test_the_endpoint_says_which_latencies_are_sketched(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    await spans_with_versions(gql, conversation, seed=3)
    exact = (await gql.data(USAGE_LATENCIES, {"g": ["MODEL"]}))["usage"]
    assert {g["approximate"] for g in exact} == {False}
    monkeypatch.setattr(usage_reads, "EXACT_LIMIT", 0)
    sketched = (await gql.data(USAGE_LATENCIES, {"g": ["MODEL"]}))["usage"]
    assert {g["approximate"] for g in sketched} == {True}
    assert [g["count"] for g in sketched] == [g["count"] for g in exact]
    monkeypatch.undo()
    # Grouped by user the stored per-user sketch answers; by conversation, which no
    # stored sketch keeps, the rows are bucketed: sketched past the limit either way.
    for grouping in ("USER", "CONVERSATION"):
        exact_groups = (await gql.data(USAGE_LATENCIES, {"g": [grouping]}))["usage"]
        assert {g["approximate"] for g in exact_groups} == {False}
        monkeypatch.setattr(usage_reads, "EXACT_LIMIT", 0)
        sketched_groups = (await gql.data(USAGE_LATENCIES, {"g": [grouping]}))["usage"]
        monkeypatch.undo()
        assert {g["approximate"] for g in sketched_groups} == {True}
        assert [(g["userId"], g["count"]) for g in sketched_groups] == [
            (g["userId"], g["count"]) for g in exact_groups
        ]
    # Not asked for, latencies are not read at all.
    counts = (await gql.data("{ usage { count approximate } }"))["usage"]
    assert counts == [{"count": sum(g["count"] for g in exact), "approximate": False}]


async def test_a_caller_who_sees_part_of_it_gets_a_sketch_of_their_own_calls(
    gql: GraphQLClient, app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored sketch holds everyone's calls and cannot tell which are a restricted
    caller's: past EXACT_LIMIT, theirs is counted from their own rows, and the calls of
    conversations they cannot see never move their percentiles."""
    mine = (await factories.conversation(gql))["id"]
    await spans_with_versions(gql, mine, seed=5)
    theirs = (await factories.conversation(gql, owner={"participantId": "keeper"}))["id"]
    for seed in range(3):
        await spans_with_versions(gql, theirs, seed)
    # The owner (factories.conversation's), who sees none of the other tests' data.
    ctx = Context.create(app.state.database, settings, principal=Principal.user("user-1"))
    for group_by in [(), (By.MODEL,), (By.USER,), (By.CONVERSATION, By.SPAN_KIND)]:
        await assert_sketch_close(ctx, UsageQuery(group_by=group_by), monkeypatch)


BY_USER = "{ usage(groupBy: [USER]) { userId count totalTokens } }"


async def by_user(gql: GraphQLClient) -> dict[str | None, tuple[int, int]]:
    groups = (await gql.data(BY_USER))["usage"]
    return {g["userId"]: (g["count"], g["totalTokens"]) for g in groups}


async def test_a_trace_whose_user_changes_takes_its_spans_along(
    gql: GraphQLClient, app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No write of the API or of ingestion changes a trace's user (ingestion sets it
    when it first sees the trace), so the change is made in SQL, as a data fix would:
    the trigger moves the trace's spans, compacted or not, to the new user."""
    conversation = (await factories.conversation(gql))["id"]
    await spans_with_versions(gql, conversation, seed=11, ages=(timedelta(days=3),))
    while await compact(app.state.database.sessions):
        pass
    await spans_with_versions(gql, conversation, seed=12, ages=(timedelta(days=3),))
    before = await by_user(gql)
    assert "ann" in before
    async with app.state.engine.begin() as connection:
        await connection.execute(
            update(Trace).where(col(Trace.user_id) == "ann").values(user_id="dan")
        )
    after = await by_user(gql)
    assert after == {**{u: n for u, n in before.items() if u != "ann"}, "dan": before["ann"]}
    await agree(app, settings)
    ctx = Context.create(app.state.database, settings)
    for q in (UsageQuery(group_by=(By.USER,)), UsageQuery(user_id="dan")):
        await assert_sketch_close(ctx, q, monkeypatch)


async def test_deleted_traces_and_conversations_leave_their_users(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    """A trace swept by retention and a deleted conversation take their spans (and the
    conversation its model-call messages) out of every user's sums and buckets: merged,
    nothing of them is left."""
    kept = (await factories.conversation(gql))["id"]
    await spans_with_versions(gql, kept, seed=13)
    started = (utcnow() - timedelta(days=40)).isoformat()
    old = (await factories.trace(gql, kept, startedAt=started, userId="swept"))["id"]
    span = await factories.span(gql, old, kind="LLM", startedAt=started)
    await factories.end_span(gql, span["id"], inputTokens=5, outputTokens=7)
    gone = (await factories.conversation(gql))["id"]
    await spans_with_versions(gql, gone, seed=14)
    gone_trace = (await factories.trace(gql, gone, userId="deleted"))["id"]
    span = await factories.span(gql, gone_trace, kind="LLM")
    await factories.end_span(gql, span["id"], inputTokens=3, outputTokens=4)
    await factories.message(
        gql, gone, senderId="agent-1", senderType="AGENT", role="ASSISTANT", inputTokens=3, cost=0.5
    )
    assert {"swept", "deleted"} <= (await by_user(gql)).keys()
    policy = replace(settings, retention_trace_days=30)
    await retention.sweep(Context.create(app.state.database, policy, app.state.bus))
    await gql.data(DELETE, {"id": gone})
    assert not {"swept", "deleted"} & (await by_user(gql)).keys()
    await agree(app, settings)
    while await compact(app.state.database.sessions):
        pass
    ctx = Context.create(app.state.database, settings)
    for table in (UserUsageDay, UserLatencyDay, UserLatencyMonth):
        left = await ctx.loaders.fetch(select(col(table.user_id)).distinct())
        assert {row[0] for row in left} <= set(USERS), table
    await agree(app, settings)


@pytest.mark.parametrize(
    ("principal", "q", "stored"),
    [
        (Principal.development(), UsageQuery(group_by=(By.MODEL, By.DAY)), EVERYONE),
        (Principal.development(), UsageQuery(group_by=(By.USER,)), PER_USER),
        (Principal.development(), UsageQuery(group_by=(By.DAY, By.USER)), PER_USER),
        (Principal.development(), UsageQuery(user_id="ann"), PER_USER),
        (Principal.development(), UsageQuery(group_by=(By.DAY,), user_id="ann"), PER_USER),
        # The per-user tables keep no other dimension, conversation or hour.
        (Principal.development(), UsageQuery(group_by=(By.USER, By.MODEL)), None),
        (Principal.development(), UsageQuery(group_by=(By.USER,), models=["m-1"]), None),
        (Principal.development(), UsageQuery(group_by=(By.USER, By.HOUR)), None),
        (Principal.development(), UsageQuery(user_id="ann", conversation_ids=[]), None),
        (Principal.development(), UsageQuery(group_by=(By.TOOL,)), NAMED),
        (
            Principal.development(),
            UsageQuery(group_by=(By.AGENT, By.SPAN_KIND, By.DAY), kinds=[SpanKind.TOOL]),
            NAMED,
        ),
        # The per-name tables keep no model, provider, user, conversation or hour.
        (Principal.development(), UsageQuery(group_by=(By.STATUS,), models=["m-1"]), None),
        (Principal.development(), UsageQuery(group_by=(By.AGENT,), user_id="ann"), None),
        (Principal.development(), UsageQuery(group_by=(By.SPAN_NAME, By.HOUR)), None),
        (Principal.development(), UsageQuery(group_by=(By.TOOL, By.MODEL)), None),
        (Principal.development(), UsageQuery(group_by=(By.TOOL,), conversation_ids=[]), None),
        # They all hold everyone's calls, which a restricted caller may not all see.
        (Principal.user(DEVELOPMENT_USER), UsageQuery(group_by=(By.USER,)), None),
        (Principal.user(DEVELOPMENT_USER), UsageQuery(group_by=(By.TOOL,)), None),
    ],
)
def test_the_stored_days_that_answer_a_query(
    principal: Principal, q: UsageQuery, stored: Stored | None
) -> None:
    assert stored_days(principal, q) is stored


async def test_links_written_together_count_each_span_once(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    """One statement that inserts (a set-based load) or deletes (a conversation deleted
    in chunks) several links of a span: the span is counted as using versions once, and
    as using none again once its last link goes (migration 0021: PostgreSQL runs row
    triggers when the statement ends, when every one of them saw the others)."""
    conversation = (await factories.conversation(gql))["id"]
    versions = [
        from_global_id((await factories.component_version(gql, f"tool-{i}", {"n": i}))["id"])[1]
        for i in range(3)
    ]
    trace = (await factories.trace(gql, conversation))["id"]
    spans = []
    for index in range(3):
        span = (await factories.span(gql, trace, kind="LLM"))["id"]
        await factories.end_span(gql, span, model="m-1", inputTokens=10 + index, outputTokens=1)
        spans.append(from_global_id(span)[1])
    # The first span has a link already; every span gets two more in one statement.
    links = SpanComponentVersion.__table__  # type: ignore[attr-defined]
    async with app.state.engine.begin() as connection:
        await connection.execute(
            links.insert(), [{"span_id": spans[0], "component_version_id": versions[2]}]
        )
    together = [{"span_id": s, "component_version_id": v} for s in spans for v in versions[:2]]
    async with app.state.engine.begin() as connection:
        await connection.execute(links.insert().values(together))
    await agree(app, settings)
    # All of the first span's links, and one of the second's, in one statement.
    async with app.state.engine.begin() as connection:
        await connection.execute(
            links.delete().where(
                (links.c.span_id == spans[0])
                | ((links.c.span_id == spans[1]) & (links.c.component_version_id == versions[0]))
            )
        )
    await agree(app, settings)
    while await compact(app.state.database.sessions):
        pass
    await agree(app, settings)
