"""The per-name roll-ups (migration 0025) hold what the rows say, whatever wrote, moved or
deleted them.

The name_* tables hold, per UTC day (latency buckets also per month), the calls per
kind, status, span name, tool and agent: a span under its own and its trace's agent; a
model-call message as an LLM call with its status mapped (usage_query.MESSAGE_STATUS),
no name or tool, under its sender if an agent sent it. After each change, the stored
sums and buckets (before and after compaction) equal a GROUP BY over the rows.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    String,
    case,
    delete,
    func,
    literal,
    null,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlmodel import col
from starlette.applications import Starlette

from config import Settings
from models import Message, NameLatencyDay, NameLatencyMonth, NameUsageDay, Span, Trace
from models.base import utcnow
from models.enums import MessageStatus, ParticipantType, SpanKind, SpanStatus
from resolvers import retention
from resolvers.analytics.sketch import bucket_sql
from resolvers.analytics.sql import utc_period
from resolvers.analytics.usage_query import MESSAGE_STATUS
from resolvers.analytics.usage_rollups import SUMMED, compact
from resolvers.analytics.usage_rows import model_call_messages
from resolvers.context import Context
from resolvers.ids import from_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.schema.test_usage_model import World, actions
from tests.web import otlp_json

AGENTS = ("agent-1", "agent-2")
NAMES = ("search", "fetch", "plan")
KINDS = ("LLM", "TOOL", "CHAIN")
KEYS = ("kind", "status", "name", "tool_name", "agent_id")
DELETE = "mutation($id: ID!) { deleteConversation(id: $id) { deletedId } }"
DELETE_MESSAGE = "mutation($id: ID!) { deleteMessage(id: $id) { deletedIds } }"
Figures = dict[tuple[Any, ...], tuple[int, ...]]
# Runs a statement, returns its rows (Loaders.fetch, or a connection's).
Fetch = Callable[[Any], Awaitable[Sequence[Any]]]


def _calls() -> Any:
    """Every call as the name_* tables count it: its day, keys, measures and latency."""
    error = SpanStatus.ERROR.value
    spans: Any = select(
        utc_period(col(Span.started_at), "day").label("day"),
        sql_cast(col(Span.kind), String).label("kind"),
        sql_cast(col(Span.status), String).label("status"),
        col(Span.name).label("name"),
        col(Span.tool_name).label("tool_name"),
        col(Trace.agent_id).label("agent_id"),
        *(type_coerce(col(getattr(Span, name)), BigInteger).label(name) for name in SUMMED[1:5]),
        case((sql_cast(col(Span.status), String) == error, 1), else_=0).label("errors"),
        col(Span.duration_ms).label("latency"),
    ).join(Trace, col(Trace.id) == col(Span.trace_id))
    message_status = sql_cast(col(Message.status), String)
    mapped = case(*((message_status == m.value, s.value) for m, s in MESSAGE_STATUS.items()))
    by_agent = col(Message.sender_type) == ParticipantType.AGENT
    messages = select(
        utc_period(col(Message.created_at), "day"),
        literal(SpanKind.LLM.value, String),
        mapped,
        sql_cast(null(), String),
        sql_cast(null(), String),
        case((by_agent, col(Message.sender_id))),
        *(type_coerce(col(getattr(Message, name)), BigInteger) for name in SUMMED[1:5]),
        case((message_status == MessageStatus.ERROR.value, 1), else_=0),
        col(Message.latency_ms),
    ).where(*model_call_messages())
    return union_all(spans, messages).subquery("calls")


def _figures(rows: Any) -> Figures:
    """Groups with anything in them (rows whose deltas net to zero are no group)."""
    return {_key(row): tuple(int(v) for v in _measures(row)) for row in rows if any(_measures(row))}


def _key(row: Any) -> tuple[Any, ...]:
    return tuple(row[: row._fields.index("measure_0")])


def _measures(row: Any) -> tuple[Any, ...]:
    return tuple(row[row._fields.index("measure_0") :])


def _labelled(*measures: Any) -> list[Any]:
    return [m.label(f"measure_{i}") for i, m in enumerate(measures)]


async def expected(fetch: Fetch) -> tuple[Figures, Figures]:
    """The sums per day and keys, and the buckets per day, keys and bucket, from the rows."""
    calls = _calls()
    keys = [calls.c.day, *(calls.c[k] for k in KEYS)]
    sums = select(
        *keys,
        *_labelled(func.count(), *(func.sum(calls.c[n]) for n in (*SUMMED[1:5], "errors"))),
    ).group_by(*keys)
    bucket = bucket_sql(calls.c.latency)
    buckets = (
        select(*keys, bucket.label("bucket"), *_labelled(func.count()))
        .where(calls.c.latency.is_not(None))
        .group_by(*keys, bucket)
    )
    return _figures(await fetch(sums)), _figures(await fetch(buckets))


async def stored(fetch: Fetch) -> tuple[Figures, Figures]:
    """The same, from the name_* day tables."""
    sums = _per_day(NameUsageDay, *(func.sum(col(getattr(NameUsageDay, n))) for n in SUMMED))
    buckets = _per_day(
        NameLatencyDay, func.sum(col(NameLatencyDay.calls)), by=[col(NameLatencyDay.bucket)]
    )
    return _figures(await fetch(sums)), _figures(await fetch(buckets))


def _per_day(table: Any, *measures: Any, by: Sequence[Any] = ()) -> Any:
    """The measures of a day table's rows per day (as `usage` shows days) and KEYS."""
    keys = [col(getattr(table, k)) for k in KEYS]
    # Grouped by the stored day: PostgreSQL takes each rendering of the day for another
    # expression.
    day = col(table.day)
    return select(utc_period(day, "day"), *keys, *by, *_labelled(*measures)).group_by(
        day, *keys, *by
    )


async def stored_months(fetch: Fetch) -> Figures:
    """The buckets per month, keys and bucket: the month rows, and the day rows that
    compaction has not added to them yet."""
    months = select(
        utc_period(col(NameLatencyMonth.month), "day").label("period"),
        *(col(getattr(NameLatencyMonth, k)) for k in KEYS),
        col(NameLatencyMonth.bucket),
        col(NameLatencyMonth.calls),
    )
    pending = select(
        utc_period(col(NameLatencyDay.day), "day"),
        *(col(getattr(NameLatencyDay, k)) for k in KEYS),
        col(NameLatencyDay.bucket),
        col(NameLatencyDay.calls),
    ).where(~col(NameLatencyDay.compacted))
    found: dict[tuple[Any, ...], int] = defaultdict(int)
    for period, *keys, calls in await fetch(select(union_all(months, pending).subquery())):
        found[(period[:7], *keys)] += calls
    return {key: (calls,) for key, calls in found.items() if calls}


def by_month(buckets: Figures) -> Figures:
    found: dict[tuple[Any, ...], int] = defaultdict(int)
    for (day, *keys), (calls,) in buckets.items():
        found[(day[:7], *keys)] += calls
    return {key: (calls,) for key, calls in found.items() if calls}


async def agree(app: Starlette, settings: Settings) -> None:
    fetch = Context.create(app.state.database, settings).loaders.fetch
    sums, buckets = await expected(fetch)
    assert sums, "no calls to compare"
    assert await stored(fetch) == (sums, buckets)
    assert await stored_months(fetch) == by_month(buckets)


async def agree_compacted(app: Starlette, settings: Settings) -> None:
    """The stored figures agree before compaction and after it."""
    await agree(app, settings)
    while await compact(app.state.database.sessions):
        pass
    await agree(app, settings)


async def conversation_with_agents(gql: GraphQLClient) -> str:
    agents = [{"participantId": a, "participantType": "AGENT"} for a in AGENTS]
    found: str = (await factories.conversation(gql, participants=agents))["id"]
    return found


async def random_calls(
    gql: GraphQLClient,
    conversation: str,
    seed: int,
    ages: tuple[timedelta, ...] = (timedelta(0), timedelta(days=2), timedelta(days=40)),
) -> list[str]:
    """Traces of either agent or none, with spans of each kind and name (some TOOL, some
    not ended), and model-call messages from an agent and from the user. Returns the
    traces' ids."""
    rng = random.Random(seed)
    traces = []
    for agent in (*AGENTS, None):
        begun = (utcnow() - rng.choice(ages)).isoformat()
        trace = await factories.trace(gql, conversation, startedAt=begun, agentId=agent)
        traces.append(trace["id"])
    for index in range(9):
        started = utcnow() - rng.choice(ages)
        span = await factories.span(
            gql,
            rng.choice(traces),
            kind=rng.choice(KINDS),
            name=rng.choice(NAMES),
            startedAt=started.isoformat(),
        )
        if index % 4 == 3:
            continue  # still running: UNSET, no latency
        await factories.end_span(
            gql,
            span["id"],
            status=rng.choice(["OK", "ERROR"]),
            endedAt=(started + timedelta(milliseconds=rng.randint(0, 4000))).isoformat(),
            model="m-1",
            inputTokens=rng.randint(0, 500),
            outputTokens=rng.randint(1, 500),
            cost=rng.choice([None, 0.125]),
        )
    for sender, kind, role in (("agent-2", "AGENT", "ASSISTANT"), ("user-1", "USER", "USER")):
        await factories.message(
            gql,
            conversation,
            senderId=sender,
            senderType=kind,
            role=role,
            inputTokens=rng.randint(1, 50),
            outputTokens=rng.randint(0, 50),
            latencyMs=rng.choice([None, 12]),
        )
    return traces


@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(actions, min_size=1, max_size=4), seed=st.integers(0, 1000))
async def test_the_name_rollups_hold_what_the_rows_say(
    gql: GraphQLClient, app: Starlette, settings: Settings, steps: list[Any], seed: int
) -> None:
    """API traces and spans, messages, ingested runs, message deletions and forks, then
    a conversation deleted."""
    world = World(gql)
    for _ in range(2):
        conversation = await conversation_with_agents(gql)
        world.conversations.append(conversation)
        await random_calls(gql, conversation, seed)
    for step in steps:
        await world.apply(step)
    sums, _ = await stored(Context.create(app.state.database, settings).loaders.fetch)
    # Every TOOL span under its tool (startSpan's: its name), and agents' calls under them.
    assert {key[4] for key in sums if key[1] == "TOOL"} <= set(NAMES)
    assert {key[5] for key in sums} >= {*AGENTS, None}
    await agree_compacted(app, settings)
    await gql.data(DELETE, {"id": world.conversations[seed % len(world.conversations)]})
    await agree_compacted(app, settings)


async def test_a_trace_whose_agent_changes_takes_its_spans_along(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    """No write changes a trace's agent once set but a late OTLP batch (a trace that had
    none); a data fix in SQL moves its spans, compacted or not."""
    conversation = await conversation_with_agents(gql)
    await random_calls(gql, conversation, seed=3)
    while await compact(app.state.database.sessions):
        pass
    await random_calls(gql, conversation, seed=4)
    async with app.state.engine.begin() as connection:
        await connection.execute(
            update(Trace).where(col(Trace.agent_id) == "agent-1").values(agent_id="agent-9")
        )
        await connection.execute(
            update(Trace).where(col(Trace.agent_id).is_(None)).values(agent_id="agent-2")
        )
    ctx = Context.create(app.state.database, settings)
    sums, _ = await stored(ctx.loaders.fetch)
    agents = {key[-1] for key in sums}
    assert "agent-9" in agents
    assert "agent-1" not in agents
    await agree_compacted(app, settings)


async def test_a_span_changed_moves_to_its_new_keys(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    """Its status, name, kind or tool, or its trace, changed in SQL (as a data fix)."""
    conversation = await conversation_with_agents(gql)
    traces = await random_calls(gql, conversation, seed=5)
    other = from_global_id(traces[1])[1]
    changes: list[dict[str, Any]] = [
        {"status": SpanStatus.ERROR},
        {"name": "renamed"},
        {"kind": SpanKind.TOOL, "tool_name": "a-tool"},
        {"kind": SpanKind.CHAIN, "tool_name": None},
        {"tool_name": "another-tool"},
        {"trace_id": other},
        {"duration_ms": 7.0, "input_tokens": 3},
    ]
    for values in changes:
        async with app.state.engine.begin() as connection:
            await connection.execute(update(Span).where(col(Span.name) != "fetch").values(**values))
        await agree(app, settings)
    await agree_compacted(app, settings)


async def test_deletes_and_sweeps_net_to_zero(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    """Spans deleted by themselves, a message, a trace swept by retention, a deleted
    conversation: what they counted is counted out, and once merged nothing of the
    deleted conversation's agents is left."""
    kept = await conversation_with_agents(gql)
    await random_calls(gql, kept, seed=6)
    old = (utcnow() - timedelta(days=50)).isoformat()
    swept = await factories.trace(gql, kept, startedAt=old, agentId="agent-1")
    span = await factories.span(gql, swept["id"], kind="TOOL", name="old-tool", startedAt=old)
    await factories.end_span(gql, span["id"], inputTokens=4, outputTokens=5)
    message = await factories.message(
        gql, kept, senderId="agent-1", senderType="AGENT", role="ASSISTANT", inputTokens=9
    )
    await agree(app, settings)
    async with app.state.engine.begin() as connection:
        await connection.execute(delete(Span).where(col(Span.name) == "plan"))
    await gql.data(DELETE_MESSAGE, {"id": message["id"]})
    await agree(app, settings)
    policy = replace(settings, retention_trace_days=30, retention_batch_size=2)
    await retention.sweep(Context.create(app.state.database, policy, app.state.bus))
    await agree(app, settings)
    gone = await factories.conversation(
        gql, participants=[{"participantId": "agent-gone", "participantType": "AGENT"}]
    )
    trace = await factories.trace(gql, gone["id"], agentId="agent-gone")
    span = await factories.span(gql, trace["id"], kind="TOOL", name="gone-tool")
    await factories.end_span(gql, span["id"], inputTokens=2, outputTokens=2)
    await factories.message(
        gql, gone["id"], senderId="agent-gone", senderType="AGENT", role="ASSISTANT", inputTokens=1
    )
    await agree(app, settings)
    await gql.data(DELETE, {"id": gone["id"]})
    await agree_compacted(app, settings)
    ctx = Context.create(app.state.database, settings)
    for table in (NameUsageDay, NameLatencyDay, NameLatencyMonth):
        left = await ctx.loaders.fetch(
            select(col(table.name), col(table.agent_id)).where(col(table.calls) != 0).distinct()
        )
        names = {row[0] for row in left}
        assert not {"old-tool", "gone-tool", "plan"} & names, table
        assert "agent-gone" not in {row[1] for row in left}, table


async def test_a_model_call_message_counts_with_its_status_and_agent(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    """An agent's message counts under the agent, a user's under none; its status as a
    span's (COMPLETE as OK, ERROR as an error, STREAMING as UNSET); produced by a span,
    it is the span's call and counts no more by itself."""
    conversation = await conversation_with_agents(gql)
    said: dict[str, Any] = {}
    for sender, kind in (("agent-1", "AGENT"), ("user-1", "USER")):
        said[sender] = await factories.message(
            gql, conversation, senderId=sender, senderType=kind, inputTokens=5, outputTokens=1
        )
    ctx = Context.create(app.state.database, settings)
    sums, _ = await stored(ctx.loaders.fetch)
    assert {key[1:]: figures[:2] for key, figures in sums.items()} == {
        ("LLM", "OK", None, None, "agent-1"): (1, 5),
        ("LLM", "OK", None, None, None): (1, 5),
    }
    for status in (MessageStatus.ERROR, MessageStatus.STREAMING):
        async with app.state.engine.begin() as connection:
            await connection.execute(update(Message).values(status=status))
        sums, _ = await stored(ctx.loaders.fetch)
        assert {key[2] for key in sums} == {MESSAGE_STATUS[status].value}
        errors = sum(figures[-1] for figures in sums.values())
        assert errors == (2 if status == MessageStatus.ERROR else 0)
        await agree(app, settings)
    trace = await factories.trace(gql, conversation)
    span = await factories.span(gql, trace["id"], kind="LLM", name="answer")
    await factories.end_span(gql, span["id"], inputTokens=8, messageId=said["agent-1"]["id"])
    await agree_compacted(app, settings)
    sums, _ = await stored(ctx.loaders.fetch)
    assert ("LLM", "UNSET", None, None, "agent-1") not in {key[1:] for key in sums}


async def test_ingested_runs_count_under_their_tools_and_agents(
    http: httpx.AsyncClient, app: Starlette, settings: Settings
) -> None:
    """OTLP batches (one COPY of spans each on PostgreSQL), and a late batch that gives
    a trace its agent: its spans move to it."""
    common = {"gen_ai.conversation.id": "ingested"}
    tool = {**common, "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "weather"}
    await otlp_json.post(
        http,
        otlp_json.span(1, 1, "root", common, end=900),
        otlp_json.span(1, 2, "execute_tool weather", tool, parent=1, start=100),
        otlp_json.span(
            1, 3, "execute_tool weather", tool, parent=1, start=300, error="no such city"
        ),
    )
    await agree_compacted(app, settings)
    chat = {
        **common,
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.output.messages": otlp_json.genai(("assistant", [otlp_json.text("Sunny.")])),
    }
    await otlp_json.post(
        http, otlp_json.span(1, 4, "chat", chat, parent=1, start=500), service="late-bot"
    )
    await agree(app, settings)
    sums, _ = await stored(Context.create(app.state.database, settings).loaders.fetch)
    assert {key[1:] for key in sums} == {
        ("OTHER", "OK", "root", None, "late-bot"),
        ("TOOL", "OK", "execute_tool weather", "weather", "late-bot"),
        ("TOOL", "ERROR", "execute_tool weather", "weather", "late-bot"),
        ("LLM", "OK", "chat", None, "late-bot"),
    }
