"""The write path against hand-written SQL: sendMessage, reportToolStart, reportToolEnd,
appendAnswerChunk.

Each mutation runs in process (schema execution, its transaction, publishing the event
after commit), one at a time, on PostgreSQL. The baseline writes the same rows with
asyncpg in one transaction, the way a hand-written service would: the counters and the
sequence number in one UPDATE, the row, the event-log sequence and the event.

Prints p50/p99 ms and mutations/s (one client, one at a time) for each, and the ratio
GraphQL p50 / baseline p50; writes bench/results/writes.json.

    python -m bench.writes [--database-url postgresql+asyncpg://...] [--count 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from starlette.applications import Starlette

from bench.harness import parser_on_postgres, percentile, print_table, write_results
from bench.read_baseline import asyncpg_dsn
from config import Settings
from resolvers.context import Context
from schema import build_schema
from tests.databases import fresh_database
from web.app import create_app

T = TypeVar("T")

CREATE = """mutation { createConversation(input: {owner: {participantId: "bench"},
  participants: [{participantId: "agent", participantType: AGENT}]}) { id } }"""
SEND = """mutation($c: ID!, $text: String!) { sendMessage(input: {conversationId: $c,
  senderId: "agent", senderType: AGENT, role: ASSISTANT, status: STREAMING,
  content: $text, inputTokens: 120, outputTokens: 40}) { id seq } }"""
TOOL_START = """mutation($m: ID!, $call: String!) { reportToolStart(input: {messageId: $m,
  callId: $call, toolName: "web_search", arguments: {q: "battery recycling"}}) { id status } }"""
TOOL_END = """mutation($t: ID!) { reportToolEnd(input: {toolCallId: $t,
  result: {hits: 3}}) { id status } }"""
CHUNK = """mutation($m: ID!, $text: String!) {
  appendAnswerChunk(input: {messageId: $m, text: $text}) { id } }"""


@dataclass
class Figures:
    mutation: str
    graphql_p50_ms: float
    graphql_p99_ms: float
    graphql_per_s: float
    baseline_p50_ms: float
    baseline_p99_ms: float
    baseline_per_s: float
    ratio: float


def figures(mutation: str, graphql: list[float], baseline: list[float]) -> Figures:
    def summary(times: list[float]) -> tuple[float, float, float]:
        per_s = 1000 * len(times) / sum(times)
        return round(percentile(times, 0.5), 2), round(percentile(times, 0.99), 2), round(per_s)

    ours, theirs = summary(graphql), summary(baseline)
    return Figures(mutation, *ours, *theirs, round(ours[0] / theirs[0], 2))


async def timed(pending: Awaitable[T]) -> tuple[float, T]:
    """How long `pending` took to finish, in ms, and its result."""
    start = time.perf_counter()
    result = await pending
    return (time.perf_counter() - start) * 1000, result


def no_times() -> dict[str, list[float]]:
    return {"sendMessage": [], "reportToolStart": [], "reportToolEnd": [], "appendAnswerChunk": []}


class GraphQLWriter:
    """The mutations, executed in process as the app executes them."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.schema = build_schema(app.state.settings)

    async def run(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        state = self.app.state
        context = Context.create(state.database, state.settings, state.bus)
        result = await self.schema.execute(
            document, variable_values=variables, context_value=context
        )
        assert not result.errors, result.errors
        assert result.data is not None
        return result.data

    async def measure(self, count: int) -> dict[str, list[float]]:
        conversation = (await self.run(CREATE, {}))["createConversation"]["id"]
        times = no_times()
        for n in range(count):
            took, sent = await timed(self.run(SEND, {"c": conversation, "text": f"answer {n}"}))
            times["sendMessage"].append(took)
            message = sent["sendMessage"]["id"]
            variables = {"m": message, "call": f"call-{n}"}
            took, started = await timed(self.run(TOOL_START, variables))
            times["reportToolStart"].append(took)
            tool = started["reportToolStart"]["id"]
            took, _ = await timed(self.run(TOOL_END, {"t": tool}))
            times["reportToolEnd"].append(took)
            took, _ = await timed(self.run(CHUNK, {"m": message, "text": " and more"}))
            times["appendAnswerChunk"].append(took)
        return times


class BaselineWriter:
    """The same rows, written with hand-written SQL on one asyncpg connection."""

    def __init__(self, db: asyncpg.Connection) -> None:
        self.db = db

    async def events(
        self,
        conversation: uuid.UUID,
        *events: tuple[str, dict[str, Any]],
        data: dict[str, Any] | None = None,
    ) -> None:
        """Append events (kind, foreign keys), each with `data`, to the conversation's log."""
        last = await self.db.fetchval(
            "UPDATE conversations SET last_event_seq = last_event_seq + $2 WHERE id = $1"
            " RETURNING last_event_seq",
            conversation,
            len(events),
        )
        first = last - len(events) + 1
        now = datetime.now(UTC)
        await self.db.executemany(
            "INSERT INTO events (conversation_id, seq, kind, created_at, message_id,"
            " tool_call_id, trace_id, span_id, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [
                (
                    conversation,
                    first + i,
                    kind,
                    now,
                    keys.get("message"),
                    keys.get("tool_call"),
                    keys.get("trace"),
                    keys.get("span"),
                    json.dumps(data or {}),
                )
                for i, (kind, keys) in enumerate(events)
            ],
        )

    async def send(self, conversation: uuid.UUID, text: str) -> uuid.UUID:
        async with self.db.transaction():
            now = datetime.now(UTC)
            row = await self.db.fetchrow(
                "UPDATE conversations SET last_message_seq = last_message_seq + 1,"
                " message_count = message_count + 1, input_tokens = input_tokens + 120,"
                " output_tokens = output_tokens + 40, total_tokens = total_tokens + 160,"
                " last_activity_at = $2, updated_at = $2"
                " WHERE id = $1 AND status = 'ACTIVE' RETURNING last_message_seq",
                conversation,
                now,
            )
            parent = await self.db.fetchval(
                "SELECT id FROM messages WHERE conversation_id = $1 AND seq < $2"
                " ORDER BY seq DESC LIMIT 1",
                conversation,
                row["last_message_seq"],
            )
            message = uuid.uuid4()
            await self.db.execute(
                "INSERT INTO messages (id, conversation_id, seq, parent_message_id, sender_id,"
                " sender_type, role, content, parts, status, input_tokens, output_tokens,"
                " total_tokens, cost, attachments, metadata, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, 'agent', 'AGENT', 'ASSISTANT', $5, '[]', 'STREAMING',"
                " 120, 40, 160, 0, '[]', '{}', $6, $6)",
                message,
                conversation,
                row["last_message_seq"],
                parent,
                text,
                now,
            )
            await self.events(conversation, ("MESSAGE_CREATED", {"message": message}))
        return message

    async def tool_start(self, conversation: uuid.UUID, message: uuid.UUID, call: str) -> uuid.UUID:
        async with self.db.transaction():
            now = datetime.now(UTC)
            position = await self.db.fetchval(
                "SELECT coalesce(max(position) + 1, 0) FROM tool_calls WHERE message_id = $1",
                message,
            )
            trace = uuid.uuid4()
            await self.db.execute(
                "INSERT INTO traces (id, conversation_id, message_id, status, started_at,"
                " total_tokens, cost) VALUES ($1, $2, $3, 'RUNNING', $4, 0, 0)",
                trace,
                conversation,
                message,
                now,
            )
            span = uuid.uuid4()
            await self.db.execute(
                "INSERT INTO spans (id, trace_id, kind, name, status, started_at, inputs,"
                " outputs, attributes, input_tokens, output_tokens, total_tokens, cost)"
                " VALUES ($1, $2, 'TOOL', 'web_search', 'UNSET', $3, $4, '{}', '{}', 0, 0, 0, 0)",
                span,
                trace,
                now,
                json.dumps({"q": "battery recycling"}),
            )
            tool = uuid.uuid4()
            await self.db.execute(
                "INSERT INTO tool_calls (id, message_id, position, call_id, tool_name, arguments,"
                " status, started_at, span_id) VALUES ($1, $2, $3, $4, 'web_search', $5,"
                " 'RUNNING', $6, $7)",
                tool,
                message,
                position,
                call,
                json.dumps({"q": "battery recycling"}),
                now,
                span,
            )
            await self.events(
                conversation,
                ("SPAN_STARTED", {"trace": trace, "span": span}),
                ("TOOL_START", {"message": message, "tool_call": tool, "span": span}),
            )
        return tool

    async def tool_end(self, conversation: uuid.UUID, tool: uuid.UUID) -> None:
        async with self.db.transaction():
            now = datetime.now(UTC)
            span = await self.db.fetchval(
                "UPDATE tool_calls SET result = $2, status = 'COMPLETED', ended_at = $3"
                " WHERE id = $1 AND status = 'RUNNING' RETURNING span_id",
                tool,
                json.dumps({"hits": 3}),
                now,
            )
            trace = await self.db.fetchval(
                "UPDATE spans SET status = 'OK', ended_at = $2, outputs = $3,"
                " duration_ms = extract(epoch FROM $2 - started_at) * 1000"
                " WHERE id = $1 RETURNING trace_id",
                span,
                now,
                json.dumps({"result": {"hits": 3}}),
            )
            await self.events(
                conversation,
                ("SPAN_ENDED", {"trace": trace, "span": span}),
                ("TOOL_END", {"tool_call": tool, "span": span}),
            )

    async def chunk(self, conversation: uuid.UUID, message: uuid.UUID, text: str) -> None:
        async with self.db.transaction():
            appended = await self.db.execute(
                "UPDATE messages SET content = content || $2, updated_at = $3"
                " WHERE id = $1 AND status = 'STREAMING'",
                message,
                text,
                datetime.now(UTC),
            )
            assert appended == "UPDATE 1", appended
            await self.events(
                conversation, ("ANSWER_CHUNK", {"message": message}), data={"text": text}
            )

    async def measure(self, count: int) -> dict[str, list[float]]:
        conversation = uuid.uuid4()
        await self.db.execute(
            "INSERT INTO conversations (id, kind, status, tags, metadata, owner_id,"
            " created_at, updated_at, last_activity_at, last_message_seq, last_event_seq,"
            " message_count, input_tokens, output_tokens, total_tokens, cost)"
            " VALUES ($1, 'USER_AGENT', 'ACTIVE', '[]', '{}', 'bench', now(), now(), now(),"
            " 0, 0, 0, 0, 0, 0, 0)",
            conversation,
        )
        times = no_times()
        for n in range(count):
            took, message = await timed(self.send(conversation, f"answer {n}"))
            times["sendMessage"].append(took)
            took, tool = await timed(self.tool_start(conversation, message, f"call-{n}"))
            times["reportToolStart"].append(took)
            took, _ = await timed(self.tool_end(conversation, tool))
            times["reportToolEnd"].append(took)
            took, _ = await timed(self.chunk(conversation, message, " and more"))
            times["appendAnswerChunk"].append(took)
        return times


async def main(args: argparse.Namespace) -> None:
    async with fresh_database(args.database_url, prefix="threadline_bench") as url:
        app = create_app(Settings(database_url=url, auto_migrate=True))
        async with app.router.lifespan_context(app):
            writer = GraphQLWriter(app)
            await writer.measure(max(5, args.count // 10))  # warm-up
            graphql = await writer.measure(args.count)
        db = await asyncpg.connect(asyncpg_dsn(url))
        try:
            baseline_writer = BaselineWriter(db)
            await baseline_writer.measure(max(5, args.count // 10))
            baseline = await baseline_writer.measure(args.count)
        finally:
            await db.close()
    rows = [figures(name, graphql[name], baseline[name]) for name in graphql]
    print(f"{args.count} of each, one at a time, PostgreSQL; ratio = GraphQL p50 / baseline p50")
    print_table(
        ("mutation", "GraphQL p50", "p99", "per s", "baseline p50", "p99", "per s", "ratio"),
        [astuple(r) for r in rows],
    )
    write_results("writes", [asdict(r) for r in rows])


if __name__ == "__main__":
    parser = parser_on_postgres(__doc__)
    parser.add_argument("--count", type=int, default=500, help="mutations of each kind")
    asyncio.run(main(parser.parse_args()))
