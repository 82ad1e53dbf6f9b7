"""trace_versions, kept by triggers, stays equal to the span links counted per trace
through every write that adds or removes links: spans started with versions, a link or
a span deleted, a trace swept by retention, a conversation deleted."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import col
from starlette.applications import Starlette

from config import Settings
from models import Span, SpanComponentVersion, TraceVersion
from resolvers.context import Context
from resolvers.retention import sweep
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.lifecycle_graph import raw
from tests.schema.test_retention import LONG_AGO

LINKS = SpanComponentVersion
KEPT = select(
    col(TraceVersion.trace_id), col(TraceVersion.component_version_id), col(TraceVersion.spans)
)
COUNTED = (
    select(col(Span.trace_id), col(LINKS.component_version_id), func.count())
    .join(Span, col(Span.id) == col(LINKS.span_id))
    .group_by(col(Span.trace_id), col(LINKS.component_version_id))
)
DELETE = "mutation($id: ID!) { deleteConversation(id: $id) { deletedId } }"
Counts = dict[tuple[uuid.UUID, uuid.UUID], int]


async def execute(app: Starlette, statement: Any) -> list[Any]:
    async with app.state.engine.begin() as connection:
        result = await connection.execute(statement)
        return list(result) if result.returns_rows else []


async def kept_counts(app: Starlette) -> Counts:
    """trace_versions as (trace, version) -> spans, checked against the links."""
    kept = {(t, v): n for t, v, n in await execute(app, KEPT)}
    assert kept == {(t, v): n for t, v, n in await execute(app, COUNTED)}
    return kept


async def traced(gql: GraphQLClient, conv: str, versions: list[list[str]], **trace: Any) -> str:
    """A trace with one span per entry of `versions`, each using those versions."""
    trace_id = (await factories.trace(gql, conv, **trace))["id"]
    for used in versions:
        await factories.span(gql, trace_id, componentVersionIds=used, **trace)
    return str(trace_id)


async def links_by_span(app: Starlette, trace: uuid.UUID) -> dict[uuid.UUID, set[uuid.UUID]]:
    statement = (
        select(col(LINKS.span_id), col(LINKS.component_version_id))
        .join(Span, col(Span.id) == col(LINKS.span_id))
        .where(col(Span.trace_id) == trace)
    )
    found: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for span, version in await execute(app, statement):
        found[span].add(version)
    return found


async def test_trace_versions_follow_every_link_write(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    ids = [(await factories.component_version(gql, "prompt", {"n": n}))["id"] for n in range(3)]
    a, b, c = (raw(i) for i in ids)
    kept_conv = (await factories.conversation(gql))["id"]
    shared = raw(await traced(gql, kept_conv, [[ids[0], ids[1]], [ids[0]], [ids[0], ids[2]], []]))
    old = raw(await traced(gql, kept_conv, [[ids[1]], [ids[1], ids[2]]], startedAt=LONG_AGO))
    doomed_conv = (await factories.conversation(gql))["id"]
    doomed = raw(await traced(gql, doomed_conv, [[ids[0]], [ids[2]]]))
    assert await kept_counts(app) == {
        (shared, a): 3,
        (shared, b): 1,
        (shared, c): 1,
        (old, b): 2,
        (old, c): 1,
        (doomed, a): 1,
        (doomed, c): 1,
    }

    # A link removed while its span stays, then a span removed with its links.
    links = await links_by_span(app, shared)
    with_c = next(span for span, versions in links.items() if versions == {a, c})
    only_a = next(span for span, versions in links.items() if versions == {a})
    await execute(
        app,
        delete(LINKS).where(col(LINKS.span_id) == with_c, col(LINKS.component_version_id) == c),
    )
    await execute(app, delete(Span).where(col(Span.id) == only_a))
    counts = await kept_counts(app)
    assert {k: n for k, n in counts.items() if k[0] == shared} == {(shared, a): 2, (shared, b): 1}

    # Retention deletes the old trace's spans one batch at a time, then the trace.
    policy = replace(settings, retention_trace_days=30, retention_batch_size=1)
    await sweep(Context.create(app.state.database, policy, app.state.bus))
    assert {trace for trace, _ in await kept_counts(app)} == {shared, doomed}

    await gql.data(DELETE, {"id": doomed_conv})
    assert {trace for trace, _ in await kept_counts(app)} == {shared}
