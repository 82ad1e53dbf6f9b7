"""A large dataset for the analysis benchmarks: by default 1,000 conversations with 10
messages each (10,000 messages, three in ten with a tool call) and 2,000 traces of 50
spans (100,000 spans), with component versions linked to the LLM spans and scores on
messages and spans. The deep-read benchmark adds a smaller one around its own data.

Rows go in through bulk INSERTs on a migrated database (the search index fills itself
through its triggers); the content is drawn from a small vocabulary with a fixed seed,
so two runs build the same data.

    DATABASE_URL=postgresql+asyncpg://... python -m bench.dataset --conversations 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy import inspect as sa_inspect

from config import Settings
from migrations import upgrade_to_head
from models import (
    Component,
    ComponentVersion,
    Conversation,
    Message,
    Participant,
    Score,
    Span,
    SpanComponentVersion,
    ToolCall,
    Trace,
)
from models.enums import (
    ComponentType,
    MessageRole,
    ScoreKind,
    ScoreTarget,
    SpanKind,
    SpanStatus,
    ToolCallStatus,
)
from resolvers.db import Database

WORDS = [
    "refund",
    "order",
    "parcel",
    "delivery",
    "invoice",
    "payment",
    "account",
    "password",
    "shipping",
    "weather",
    "forecast",
    "flight",
    "hotel",
    "booking",
    "cancel",
    "upgrade",
    "discount",
    "warranty",
    "return",
    "exchange",
]
MODELS = [("gpt-4o", "openai"), ("claude-3", "anthropic"), ("llama-3", "meta")]
TOOLS = ["web_search", "calculator", "lookup_order"]
KINDS = [SpanKind.LLM, SpanKind.TOOL, SpanKind.RETRIEVER, SpanKind.CHAIN]
START = datetime(2024, 5, 1, tzinfo=UTC)
BATCH = 5000


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def complete(model: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Every column of a row, the model's defaults filled in (a bulk INSERT skips them)."""
    row = model(**values)
    return {attr.key: getattr(row, attr.key) for attr in sa_inspect(model).column_attrs}


async def insert_all(database: Database, model: Any, rows: list[dict[str, Any]]) -> None:
    async with database.sessions() as session, session.begin():
        for start in range(0, len(rows), BATCH):
            batch = [complete(model, values) for values in rows[start : start + BATCH]]
            await session.execute(insert(model), batch)


def conversations(
    rng: random.Random, count: int, messages_each: int
) -> tuple[list[dict[str, Any]], ...]:
    convs: list[dict[str, Any]] = []
    participants: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for c in range(count):
        conversation_id = uuid.uuid4()
        created = START + timedelta(minutes=c)
        convs.append(
            {
                "id": conversation_id,
                "owner_id": f"user-{c % 50}",
                "title": f"conversation {c}",
                "created_at": created,
                "updated_at": created,
                "last_activity_at": created,
                "last_message_seq": messages_each,
                "message_count": messages_each,
            }
        )
        participants.append(
            {
                "id": uuid.uuid4(),
                "conversation_id": conversation_id,
                "participant_id": f"user-{c % 50}",
                "joined_at": created,
            }
        )
        parent = None
        for seq in range(1, messages_each + 1):
            message_id = uuid.uuid4()
            assistant = seq % 2 == 0
            messages.append(
                {
                    "id": message_id,
                    "conversation_id": conversation_id,
                    "seq": seq,
                    "parent_message_id": parent,
                    "sender_id": "agent" if assistant else "user",
                    "role": MessageRole.ASSISTANT if assistant else MessageRole.USER,
                    "content": sentence(rng, rng.randint(5, 40)),
                    "output_tokens": rng.randint(20, 400) if assistant else 0,
                    "created_at": created + timedelta(seconds=seq),
                    "updated_at": created + timedelta(seconds=seq),
                }
            )
            if seq % 4 == 2:
                tool_calls.append(
                    {
                        "id": uuid.uuid4(),
                        "message_id": message_id,
                        "call_id": f"call-{seq}",
                        "tool_name": rng.choice(TOOLS),
                        "arguments": {"q": sentence(rng, 3)},
                        "status": ToolCallStatus.COMPLETED,
                    }
                )
            parent = message_id
    return convs, participants, messages, tool_calls


def traces(
    rng: random.Random, convs: list[dict[str, Any]], count: int, spans_each: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    trace_rows, span_rows = [], []
    for t in range(count):
        trace_id = uuid.uuid4()
        started = START + timedelta(minutes=7 * t)
        conversation = convs[t % len(convs)]
        trace_rows.append(
            {
                "id": trace_id,
                "conversation_id": conversation["id"],
                "started_at": started,
                "user_id": conversation["owner_id"],
            }
        )
        root = None
        for s in range(spans_each):
            kind = KINDS[s % len(KINDS)]
            model, provider = rng.choice(MODELS) if kind == SpanKind.LLM else (None, None)
            duration = rng.lognormvariate(5, 1)
            begin = started + timedelta(milliseconds=20 * s)
            tokens_in = rng.randint(100, 2000) if model else 0
            tokens_out = rng.randint(10, 500) if model else 0
            span_id = uuid.uuid4()
            span_rows.append(
                {
                    "id": span_id,
                    "trace_id": trace_id,
                    "parent_span_id": root,
                    "kind": kind,
                    "name": f"{kind.lower()} step",
                    "started_at": begin,
                    "ended_at": begin + timedelta(milliseconds=duration),
                    "duration_ms": duration,
                    "status": SpanStatus.ERROR if rng.random() < 0.03 else SpanStatus.OK,
                    "inputs": {"query": sentence(rng, 6)},
                    "outputs": {"answer": sentence(rng, 8)},
                    "model": model,
                    "provider": provider,
                    "input_tokens": tokens_in,
                    "output_tokens": tokens_out,
                    "total_tokens": tokens_in + tokens_out,
                    "cost": (tokens_in + 3 * tokens_out) / 1_000_000,
                }
            )
            root = root or span_id
    return trace_rows, span_rows


async def build(database: Database, conversation_count: int, trace_count: int) -> None:
    rng = random.Random(5)
    convs, participants, messages, tool_calls = conversations(rng, conversation_count, 10)
    trace_rows, span_rows = traces(rng, convs, trace_count, 50)
    component_id = uuid.uuid4()
    versions = [
        {
            "id": uuid.uuid4(),
            "component_id": component_id,
            "content_hash": f"{n:064x}",
            "version_number": n,
            "definition": {"template": f"v{n}"},
        }
        for n in range(1, 4)
    ]
    links = [
        {"span_id": span["id"], "component_version_id": versions[i % 3]["id"]}
        for i, span in enumerate(span_rows)
        if span["model"]
    ]
    scores = [
        {
            "id": uuid.uuid4(),
            "conversation_id": trace["conversation_id"],
            "target": ScoreTarget.TRACE,
            "trace_id": trace["id"],
            "name": "quality",
            "kind": ScoreKind.NUMERIC,
            "value": rng.randint(1, 5),
            "author_id": "judge",
        }
        for trace in trace_rows
    ]
    component = {
        "id": component_id,
        "key": "answer-prompt",
        "type": ComponentType.PROMPT,
        "name": "answer prompt",
        "version_count": 3,
    }
    for model, rows in (
        (Conversation, convs),
        (Participant, participants),
        (Message, messages),
        (ToolCall, tool_calls),
        (Trace, trace_rows),
        (Span, span_rows),
        (Component, [component]),
        (ComponentVersion, versions),
        (SpanComponentVersion, links),
        (Score, scores),
    ):
        await insert_all(database, model, rows)
        print(f"{model.__tablename__}: {len(rows)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--traces", type=int, default=2000)
    args = parser.parse_args()
    settings = Settings.from_env()
    database = Database.from_url(settings.database_url)
    await upgrade_to_head(database.engine)
    await build(database, args.conversations, args.traces)
    await database.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
