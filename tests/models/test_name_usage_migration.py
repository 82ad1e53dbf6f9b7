"""Migration 0025 gives the traces and spans there are their agent and tool, and counts
them into the per-name roll-ups as compaction would have left them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from migrations import alembic_config
from tests.models.test_migrations import at_revision
from tests.resolvers.test_name_rollups import by_month, expected, stored, stored_months

AT = datetime(2026, 3, 1, 12)
# (trace, kind, name, attributes, its tool call's tool) -> the tool the span ran.
SPANS: list[tuple[str, str, str, dict[str, Any], str | None, str | None]] = [
    ("agent", "TOOL", "execute_tool x", {"gen_ai.tool.name": "weather"}, None, "weather"),
    ("agent", "TOOL", "run", {"tool.name": " ", "tool_call.function.name": "clock"}, None, "clock"),
    ("agent", "TOOL", "called", {"gen_ai.tool.name": "ignored"}, "lookup", "lookup"),
    ("agent", "TOOL", "plain", {}, None, "plain"),
    ("agent", "LLM", "chat", {"gen_ai.tool.name": "not a tool"}, None, None),
    ("user", "TOOL", "search", {}, None, "search"),
    ("none", "CHAIN", "step", {}, None, None),
]


async def _insert(connection: AsyncConnection, table: str, **values: Any) -> None:
    columns = ", ".join(values)
    await connection.execute(
        text(f"INSERT INTO {table} ({columns}) VALUES (:{', :'.join(values)})"), values
    )


async def _old_rows(connection: AsyncConnection) -> dict[str, str]:
    """A conversation with a model-call message of an agent, a user's message, a trace
    of each and one of neither, and their spans (SPANS); the span ids by name."""
    conversation = uuid.uuid4().hex
    await _insert(
        connection,
        "conversations",
        id=conversation,
        kind="USER_AGENT",
        status="ACTIVE",
        tags="[]",
        metadata="{}",
        owner_id="ada",
        created_at=AT,
        updated_at=AT,
        last_activity_at=AT,
        last_message_seq=2,
        message_count=2,
        input_tokens=0,
        output_tokens=0,
        total_tokens=0,
        cost=0,
    )
    messages = {}
    for seq, (sender, kind, tokens) in enumerate((("agent-7", "AGENT", 5), ("ada", "USER", 0)), 1):
        messages[kind] = uuid.uuid4().hex
        await _insert(
            connection,
            "messages",
            id=messages[kind],
            conversation_id=conversation,
            seq=seq,
            sender_id=sender,
            sender_type=kind,
            role="ASSISTANT" if kind == "AGENT" else "USER",
            content="hi",
            parts="[]",
            status="COMPLETE",
            input_tokens=tokens,
            # The user's carries no usage: no model call.
            output_tokens=min(tokens, 1),
            total_tokens=tokens + min(tokens, 1),
            cost=tokens * 1000,
            latency_ms=40,
            attachments="[]",
            metadata="{}",
            created_at=AT,
            updated_at=AT,
        )
    traces = {"agent": messages["AGENT"], "user": messages["USER"], "none": None}
    trace_ids = {}
    for name, message in traces.items():
        trace_ids[name] = uuid.uuid4().hex
        await _insert(
            connection,
            "traces",
            id=trace_ids[name],
            conversation_id=conversation,
            message_id=message,
            status="OK",
            started_at=AT,
            total_tokens=0,
            cost=0,
        )
    spans = {}
    for index, (trace, kind, name, attributes, called, _) in enumerate(SPANS):
        spans[name] = uuid.uuid4().hex
        await _insert(
            connection,
            "spans",
            id=spans[name],
            trace_id=trace_ids[trace],
            kind=kind,
            name=name,
            status="ERROR" if index % 2 else "OK",
            started_at=AT,
            duration_ms=10.0 * index,
            inputs="{}",
            outputs="{}",
            attributes=json.dumps(attributes),
            input_tokens=index,
            output_tokens=1,
            total_tokens=index + 1,
            cost=index * 1000,
        )
        if called is not None:
            await _insert(
                connection,
                "tool_calls",
                id=uuid.uuid4().hex,
                message_id=messages["AGENT"],
                position=0,
                call_id="c1",
                tool_name=called,
                arguments="{}",
                status="COMPLETED",
                span_id=spans[name],
            )
    return spans


async def test_the_name_migration_fills_in_what_the_rows_show(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with at_revision(database_url, tmp_path_factory, "0024") as connection:
        spans = await _old_rows(connection)
        await connection.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))

        async def fetch(statement: Any) -> Sequence[Any]:
            return (await connection.execute(statement)).all()

        rows = await connection.execute(text("SELECT id, tool_name FROM spans"))
        tools: dict[Any, str | None] = dict(rows.all())
        assert {name: tools[_stored_id(i, tools)] for name, i in spans.items()} == {
            name: tool for _, _, name, _, _, tool in SPANS
        }
        agents = await connection.execute(text("SELECT agent_id FROM traces"))
        assert sorted(a or "" for (a,) in agents.all()) == ["", "", "agent-7"]
        sums, buckets = await expected(fetch)
        assert len(sums) == len(SPANS) + 1  # and the agent's model-call message
        assert await stored(fetch) == (sums, buckets)
        assert await stored_months(fetch) == by_month(buckets)
        merged = await connection.execute(
            text(
                "SELECT count(*) FROM name_usage_days WHERE NOT compacted UNION ALL "
                "SELECT count(*) FROM name_latency_days WHERE NOT compacted"
            )
        )
        assert [count for (count,) in merged.all()] == [0, 0]


def _stored_id(inserted: str, stored_ids: dict[Any, Any]) -> Any:
    """The span's id as the database returns it (a UUID on PostgreSQL, hex on SQLite)."""
    return next(i for i in stored_ids if uuid.UUID(str(i)) == uuid.UUID(inserted))
