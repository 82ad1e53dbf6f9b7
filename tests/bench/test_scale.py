"""The scale benchmark runs end to end at a tiny size (XS: about 6,000 spans), on
PostgreSQL (it is a PostgreSQL benchmark): its dataset keeps the app's invariants, its
build leaves the schema as migrated, and every read of the issue's table answers."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bench.scale import CALLERS, database, measure_size, parse
from bench.scale_report import print_report
from config import Settings
from migrations import upgrade_to_head
from resolvers.db import Database
from tests.databases import admin_connection, fresh_database
from tests.graphql_client import GraphQLClient
from web.app import create_app

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(POSTGRES_URL is None, reason="TEST_DATABASE_URL is not set")

# Indexes, foreign keys and enabled triggers: what the build drops and recreates, or keeps.
SCHEMA = """
SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'key ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace
UNION ALL
SELECT 'trigger ' || tgname || ' ' || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal
"""
# Event rows numbered out of turn (each row's first number follows the one before; a row
# listing spans takes two per span, resolvers.event_rows), last numbers not the
# conversation's, and spans not listed once, with their trace, in a row of the log.
EVENT_LOG_FAULTS = """
SELECT (SELECT count(*) FROM (
          SELECT seq - CASE WHEN data ? 'spans' THEN 2 * jsonb_array_length(data->'spans')
                            ELSE 1 END AS before,
                 lag(seq, 1, 0) OVER (PARTITION BY conversation_id ORDER BY seq) AS previous
          FROM events) e WHERE before <> previous)
     + (SELECT count(*) FROM conversations c
        WHERE last_event_seq <> (SELECT coalesce(max(seq), 0) FROM events
                                 WHERE conversation_id = c.id))
     + (SELECT count(*) FROM spans s FULL JOIN (
          SELECT listed::uuid AS id, trace_id FROM events,
                 jsonb_array_elements_text(data->'spans') listed) l
        ON l.id = s.id AND l.trace_id = s.trace_id WHERE s.id IS NULL OR l.id IS NULL)
"""
# The oldest conversations: the dataset's, not those the benchmark's writes made.
TOTALS = """query($ids: [ID!]) {
  conversations(first: 50, orderBy: {field: CREATED_AT, direction: ASC}) {
    nodes { id totalTokens cost
      traces(first: 5) { nodes { id totalTokens cost analysis { totalTokens cost } } } } }
  usage(filter: {conversationIds: $ids}, groupBy: [CONVERSATION]) {
    conversation { id } totalTokens cost } }"""


async def schema_of(url: str) -> set[str]:
    connection = await admin_connection(url)
    try:
        return {row[0] for row in await connection.fetch(SCHEMA)}
    finally:
        await connection.close()


async def event_log_faults(url: str) -> int:
    connection = await admin_connection(url)
    try:
        faults: int = await connection.fetchval(EVENT_LOG_FAULTS)
        return faults
    finally:
        await connection.close()


async def migrated_schema() -> set[str]:
    assert POSTGRES_URL is not None
    async with fresh_database(POSTGRES_URL, "threadline_scale_test") as url:
        database = Database.from_url(url)
        await upgrade_to_head(database.engine)
        await database.engine.dispose()
        return await schema_of(url)


async def stored_and_counted(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stored totals of conversations and of their traces; and the same counted from the
    rows: `usage` of the conversations, the traces' analysis."""
    app = create_app(Settings(database_url=url, sweep_interval_seconds=0))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            gql = GraphQLClient(http)
            page = (await gql.data(TOTALS, {"ids": []}))["conversations"]["nodes"]
            ids = [node["id"] for node in page]
            usage = (await gql.data(TOTALS, {"ids": ids}))["usage"]
    traces = [t for n in page for t in n["traces"]["nodes"]]
    stored = {n["id"]: (n["totalTokens"], n["cost"]) for n in page + traces if n["totalTokens"]}
    counted = {g["conversation"]["id"]: (g["totalTokens"], g["cost"]) for g in usage}
    counted |= {t["id"]: (t["analysis"]["totalTokens"], t["analysis"]["cost"]) for t in traces}
    return stored, counted


async def test_the_scale_benchmark_runs_at_a_tiny_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert POSTGRES_URL is not None
    args = parse(["--size", "XS", "--runs", "1", "--ingest-batches", "2"])
    async with database(POSTGRES_URL, "XS", keep=False) as url:
        figures = await measure_size(url, args, "XS")
        assert await schema_of(url) == await migrated_schema()
        assert await event_log_faults(url) == 0
        stored, counted = await stored_and_counted(url)
    print_report([figures], list(CALLERS))

    assert stored
    assert stored == counted
    # 4,000 spans, and the 2,000 of the huge trace (bench/scale_data.py: XS.huge).
    assert 5000 < figures["spans"] < 7000
    assert figures["build_seconds"]["total"] > 0
    for caller, timings in figures["reads"].items():
        failed = {read: t["error"] for read, t in timings.items() if t["error"]}
        assert not failed, (caller, failed)
    assert figures["ingest"]["spans"] > 0
    assert "search common word (+spans)" in capsys.readouterr().out
