"""A conversation with a row in every table it can own, built through the public API,
and looks at what every table holds, for the lifecycle tests."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette

import models
from resolvers.ids import from_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.schema.test_agent_runs import run

# Tables derived from the others by triggers: writes append to them and the sweeper
# merges their rows, so their rows change when other tables' rows do.
DERIVED = {
    models.UsageRollup.__tablename__,
    models.UsageDay.__tablename__,
    models.LatencyBucket.__tablename__,
    models.LatencyMonth.__tablename__,
    models.UserUsageDay.__tablename__,
    models.UserLatencyDay.__tablename__,
    models.UserLatencyMonth.__tablename__,
    models.NameUsageDay.__tablename__,
    models.NameLatencyDay.__tablename__,
    models.NameLatencyMonth.__tablename__,
    models.ScoreRollup.__tablename__,
    models.ScoreTotal.__tablename__,
}


async def rich_conversation(gql: GraphQLClient, title: str = "rich") -> dict[str, Any]:
    """Participants, a branched thread with tool calls, a plan with dependent steps, a trace
    with nested spans linked to a component version, a score, an agent session, events."""
    conv = (await factories.conversation(gql, title=title))["id"]
    first = (await factories.message(gql, conv, content="first", inputTokens=3))["id"]
    second = await factories.message(
        gql,
        conv,
        senderId="agent-1",
        senderType="AGENT",
        role="ASSISTANT",
        content="second",
        outputTokens=5,
        cost=0.5,
        toolCalls=[{"callId": "c1", "toolName": "search", "arguments": {"q": "x"}}],
    )
    edited = await factories.mutate(
        gql, "editMessage", {"messageId": second["id"], "content": "second, edited"}
    )
    third = await factories.message(gql, conv, content="third", parentMessageId=second["id"])
    plan = await factories.plan(gql, conv, [[], [0]], fields="id steps { id }")
    trace = (await factories.trace(gql, conv, messageId=first, name="run"))["id"]
    root = (await factories.span(gql, trace, name="root"))["id"]
    version = (await factories.component_version(gql, "prompt-a", {"text": "hi"}))["id"]
    child = await factories.span(gql, trace, name="child", parentSpanId=root)
    await gql.data(
        "mutation($s: ID!, $v: [ID!]!) { linkSpanComponentVersions(spanId: $s, "
        "componentVersionIds: $v) { id } }",
        {"s": child["id"], "v": [version]},
    )
    await factories.end_span(gql, child["id"], outputs={"ok": True}, totalTokens=7)
    await gql.data(
        "mutation($i: AddScoreInput!) { addScore(input: $i) { id } }",
        {"i": {"targetId": first, "name": "helpful", "kind": "NUMERIC", "value": 1}},
    )
    await run(gql, "startAgentSession", conversationId=conv, profileName="agent-1")
    await run(gql, "askUser", conversationId=conv, question="which one?")
    return {
        "conversation": conv,
        "messages": [first, second["id"], edited["id"], third["id"]],
        "plan": plan["id"],
        "trace": trace,
        "spans": [root, child["id"]],
        "version": version,
    }


def raw(global_id: str) -> uuid.UUID:
    return from_global_id(global_id)[1]


async def table_rows(app: Starlette) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the models declare, keyed by table name (one query each)."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with app.state.engine.connect() as connection:
        for table in models.metadata.sorted_tables:
            rows = await connection.execute(select(table))
            found[table.name] = [dict(row._mapping) for row in rows]
    return found


def uuids(row: dict[str, Any]) -> set[uuid.UUID]:
    return {value for value in row.values() if isinstance(value, uuid.UUID)}


def mentioning(rows: dict[str, list[dict[str, Any]]], ids: set[Any]) -> dict[str, int]:
    """How many rows of each table hold one of `ids` in any column."""
    counts = {name: sum(1 for row in table if ids & uuids(row)) for name, table in rows.items()}
    return {name: count for name, count in counts.items() if count}
