"""Retention sweeps and stale agent sessions: the server's sweeper and `python main.py sweep`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

from asgi_lifespan import LifespanManager
from sqlalchemy import update
from starlette.applications import Starlette

import models
from config import RetentionOverride, Settings
from models.base import utcnow
from resolvers.context import Context
from resolvers.retention import sweep
from tests import factories
from tests.conftest import served
from tests.graphql_client import GraphQLClient
from tests.lifecycle_graph import DERIVED, raw, table_rows, uuids
from tests.schema.test_agent_runs import doc, run
from tests.ws_client import connect
from web.app import create_app

LONG_AGO = (utcnow() - timedelta(days=40)).isoformat()
ARCHIVE = "mutation($id: ID!) { archiveConversation(id: $id) { id } }"


async def archived_long_ago(gql: GraphQLClient, app: Starlette, conv: str, days: int) -> None:
    await gql.data(ARCHIVE, {"id": conv})
    async with app.state.engine.begin() as connection:
        await connection.execute(
            update(models.Conversation.__table__)  # type: ignore[attr-defined]
            .where(models.Conversation.__table__.c.id == raw(conv))  # type: ignore[attr-defined]
            .values(archived_at=utcnow() - timedelta(days=days))
        )


async def old_trace(gql: GraphQLClient, conv: str, spans: int) -> str:
    """A trace started 40 days ago whose spans nest, each inside the one before."""
    trace = (await factories.trace(gql, conv, startedAt=LONG_AGO))["id"]
    parent = None
    for index in range(spans):
        parent = (await factories.span(gql, trace, name=f"s{index}", parentSpanId=parent))["id"]
    return trace


async def test_a_sweep_deletes_exactly_what_the_policy_says_in_batches(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    active = (await factories.conversation(gql))["id"]
    expired_trace = await old_trace(gql, active, spans=5)
    recent_trace = (await factories.trace(gql, active))["id"]
    await factories.span(gql, recent_trace)
    gone = (await factories.conversation(gql))["id"]
    for text in ("a", "b", "c"):
        await factories.message(gql, gone, content=text)
    await archived_long_ago(gql, app, gone, days=31)
    recently = (await factories.conversation(gql))["id"]
    await archived_long_ago(gql, app, recently, days=29)
    keeper = (await factories.conversation(gql, owner={"participantId": "keeper"}))["id"]
    kept_trace = await old_trace(gql, keeper, spans=1)
    before = await table_rows(app)
    policy = replace(
        settings,
        retention_trace_days=30,
        retention_archived_days=30,
        retention_overrides=(RetentionOverride("keeper", trace_days=0),),
        retention_batch_size=2,
    )
    report = await sweep(Context.create(app.state.database, policy, app.state.bus))
    assert +report.deleted == {
        "spans": 5,
        "traces": 1,
        "messages": 3,
        "participants": 2,
        "events": 5,  # created, three messages, archived
        "conversations": 1,
    }
    # Five spans, two at a time; three messages, two at a time.
    assert (report.batches["spans"], report.batches["messages"]) == (3, 2)
    after = await table_rows(app)
    expired_spans = {row["id"] for row in before["spans"] if row["trace_id"] == raw(expired_trace)}
    doomed = {raw(gone), raw(expired_trace), *expired_spans}
    for name, rows in before.items():
        # Events keep their place in the log; their references to deleted rows go null.
        if name not in {"conversations", "events", *DERIVED}:
            assert after[name] == [row for row in rows if not doomed & uuids(row)], name
    assert {row["id"] for row in after["conversations"]} == {
        raw(active),
        raw(recently),
        raw(keeper),
    }
    assert {row["id"] for row in after["traces"]} == {raw(recent_trace), raw(kept_trace)}
    assert not [row for row in after["events"] if row["conversation_id"] == raw(gone)]
    # Nothing was left to delete: a second sweep deletes nothing.
    assert +(await sweep(Context.create(app.state.database, policy, app.state.bus))).deleted == {}


USAGE = """query($c: ID!) {
  conversation(id: $c) { totalTokens cost messages { nodes { totalTokens } } }
  usage(filter: {conversationIds: [$c]}) { totalTokens cost } }"""


async def test_a_swept_trace_takes_its_usage_with_it(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    """The calls of a deleted trace leave the totals; an answer one of them wrote counts
    its call itself from then on (the conversation still shows it)."""
    conv = (await factories.conversation(gql))["id"]
    answer = (await factories.message(gql, conv, senderId="agent-1", senderType="AGENT"))["id"]
    old = (await factories.trace(gql, conv, startedAt=LONG_AGO))["id"]
    for tokens, produced in ((100, answer), (7, None)):
        span = (await factories.span(gql, old, kind="LLM", startedAt=LONG_AGO))["id"]
        await factories.end_span(gql, span, inputTokens=tokens, cost=0.5, messageId=produced)
    kept = (await factories.trace(gql, conv))["id"]
    span = (await factories.span(gql, kept, kind="LLM"))["id"]
    await factories.end_span(gql, span, inputTokens=20, cost=0.25)
    before = await gql.data(USAGE, {"c": conv})
    assert before["conversation"]["totalTokens"] == 127
    policy = replace(settings, retention_trace_days=30, retention_batch_size=1)
    await sweep(Context.create(app.state.database, policy, app.state.bus))
    after = await gql.data(USAGE, {"c": conv})
    assert after["usage"] == [{"totalTokens": 120, "cost": 0.75}]
    assert {k: after["conversation"][k] for k in ("totalTokens", "cost")} == after["usage"][0]
    assert after["conversation"]["messages"]["nodes"] == [{"totalTokens": 100}]


EVENTS = """subscription($c: ID!) { conversationEvents(conversationId: $c) {
  kind ... on RunEvent { error agentSession { status } } } }"""


async def test_a_session_waiting_too_long_goes_stale_and_its_subscriber_hears(
    gql: GraphQLClient, settings: Settings
) -> None:
    conv = (await factories.conversation(gql))["id"]
    await run(gql, "startAgentSession", conversationId=conv, profileName="agent-1")
    sweeping = replace(settings, sweep_interval_seconds=0.1, agent_wait_timeout_seconds=0.5)
    sweeper_app = create_app(sweeping)
    async with LifespanManager(sweeper_app), served(sweeper_app) as url, connect(url) as ws:
        op = await ws.subscribe(EVENTS, {"c": conv})
        await asyncio.sleep(0.2)  # let the subscription open before writing
        await run(gql, "askUser", conversationId=conv, question="which one?")
        event = (await ws.next(op))["conversationEvents"]
        while event["kind"] != "AGENT_SESSION_STALE":
            event = (await ws.next(op))["conversationEvents"]
        assert event == {
            "kind": "AGENT_SESSION_STALE",
            "error": "no answer from the user within 0.5 seconds",
            "agentSession": {"status": "STALE"},
        }
    error = await gql.error(
        doc("answerAgent", "id"),
        {"input": {"conversationId": conv, "senderId": "user-1", "answer": "the first"}},
    )
    assert error["extensions"]["code"] == "CONFLICT"
    assert "start a new session" in error["message"]
    again = await run(gql, "startAgentSession", "status", conversationId=conv, profileName="a")
    assert again["status"] == "ACTIVE"


async def test_the_command_line_sweeps_once(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    conv = (await factories.conversation(gql))["id"]
    await archived_long_ago(gql, app, conv, days=10)
    env = {**os.environ, "DATABASE_URL": settings.database_url, "RETENTION_ARCHIVED_DAYS": "7"}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "main.py", "sweep"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "1 conversations" in done.stdout
    assert (await table_rows(app))["conversations"] == []


async def test_a_swept_conversation_takes_its_message_references(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    """Rows of a two-column key (a message's references), deleted in batches with the
    messages they belong to."""
    gone = (await factories.conversation(gql))["id"]
    cited = (await factories.message(gql, gone, content="cited"))["id"]
    references = [{"messageId": cited}, {"document": "https://a.example.com"}]
    for text in ("a", "b"):
        await factories.message(gql, gone, content=text, references=references)
    await archived_long_ago(gql, app, gone, days=31)
    kept = (await factories.conversation(gql))["id"]
    await factories.message(gql, kept, references=[{"document": "https://b.example.com"}])
    policy = replace(settings, retention_archived_days=30, retention_batch_size=3)
    report = await sweep(Context.create(app.state.database, policy, app.state.bus))
    assert (report.deleted["message_references"], report.batches["message_references"]) == (4, 2)
    remaining = (await table_rows(app))["message_references"]
    assert [row["document"] for row in remaining] == ["https://b.example.com"]
