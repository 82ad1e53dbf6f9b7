"""The baseline of the read benchmark: hand-written asyncpg SQL building the same JSON
as the GraphQL queries of bench/deep_read.py, and a minimal Starlette app serving it.

    DATABASE_URL=postgresql://... PORT=8001 python -m bench.read_baseline
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MESSAGES_PER_PAGE = 50
SPANS_PER_PAGE = 250
CONVERSATIONS_PER_PAGE = 50


def asyncpg_dsn(url: str) -> str:
    """A libpq URL from an SQLAlchemy one (postgresql+asyncpg://...)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def gid(type_name: str, raw: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{raw}".encode()).decode()


def iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def grouped(rows: Iterable[asyncpg.Record], key: str) -> dict[Any, list[asyncpg.Record]]:
    groups: dict[Any, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        groups[row[key]].append(row)
    return groups


async def conversation_page(db: asyncpg.Connection, conversation_id: uuid.UUID) -> dict[str, Any]:
    """`data` of deep_read.CONVERSATION_PAGE, one query per level."""
    c = await db.fetchrow(
        "SELECT id, title, status, message_count, total_tokens, cost"
        " FROM conversations WHERE id = $1",
        conversation_id,
    )
    messages = await db.fetch(
        "SELECT id, seq, role, sender_id, content, created_at, total_tokens FROM messages"
        " WHERE conversation_id = $1 ORDER BY seq, id LIMIT $2",
        conversation_id,
        MESSAGES_PER_PAGE,
    )
    calls = grouped(
        await db.fetch(
            "SELECT id, message_id, tool_name, status, arguments FROM tool_calls"
            " WHERE message_id = ANY($1::uuid[]) ORDER BY position, id",
            [m["id"] for m in messages],
        ),
        "message_id",
    )
    plan = await db.fetchrow(
        "SELECT id, title, status FROM plans WHERE conversation_id = $1"
        " ORDER BY created_at, id LIMIT 1",
        conversation_id,
    )
    steps = (
        await db.fetch(
            "SELECT id, position, description, status FROM plan_steps"
            " WHERE plan_id = $1 ORDER BY position, id",
            plan["id"],
        )
        if plan
        else []
    )
    trace = await db.fetchrow(
        "SELECT id, name, status, duration_ms, total_tokens FROM traces"
        " WHERE conversation_id = $1 ORDER BY started_at, id LIMIT 1",
        conversation_id,
    )
    spans = (
        await db.fetch(
            "SELECT id, parent_span_id, name, kind, status, started_at, duration_ms,"
            " total_tokens FROM spans WHERE trace_id = $1 ORDER BY started_at, id LIMIT $2",
            trace["id"],
            SPANS_PER_PAGE,
        )
        if trace
        else []
    )
    versions = grouped(
        await db.fetch(
            "SELECT l.span_id, v.id, v.version_number, v.content_hash"
            " FROM span_component_versions l"
            " JOIN component_versions v ON v.id = l.component_version_id"
            " WHERE l.span_id = ANY($1::uuid[]) ORDER BY v.created_at, v.id",
            [s["id"] for s in spans],
        ),
        "span_id",
    )
    return {
        "conversation": {
            "id": gid("Conversation", c["id"]),
            "title": c["title"],
            "status": c["status"],
            "messageCount": c["message_count"],
            "totalTokens": c["total_tokens"],
            "cost": c["cost"],
            "messages": {
                "nodes": [
                    {
                        "id": gid("Message", m["id"]),
                        "seq": m["seq"],
                        "role": m["role"],
                        "senderId": m["sender_id"],
                        "content": m["content"],
                        "createdAt": iso(m["created_at"]),
                        "totalTokens": m["total_tokens"],
                        "toolCalls": [
                            {
                                "id": gid("ToolCall", t["id"]),
                                "toolName": t["tool_name"],
                                "status": t["status"],
                                "arguments": json.loads(t["arguments"]),
                            }
                            for t in calls[m["id"]]
                        ],
                    }
                    for m in messages
                ]
            },
            "plans": {
                "nodes": [
                    {
                        "id": gid("Plan", plan["id"]),
                        "title": plan["title"],
                        "status": plan["status"],
                        "steps": [
                            {
                                "id": gid("PlanStep", s["id"]),
                                "position": s["position"],
                                "description": s["description"],
                                "status": s["status"],
                            }
                            for s in steps
                        ],
                    }
                ]
                if plan
                else []
            },
            "traces": {
                "nodes": [
                    {
                        "id": gid("Trace", trace["id"]),
                        "name": trace["name"],
                        "status": trace["status"],
                        "durationMs": trace["duration_ms"],
                        "totalTokens": trace["total_tokens"],
                        "spans": {
                            "nodes": [
                                {
                                    "id": gid("Span", s["id"]),
                                    "name": s["name"],
                                    "kind": s["kind"],
                                    "status": s["status"],
                                    "startedAt": iso(s["started_at"]),
                                    "durationMs": s["duration_ms"],
                                    "totalTokens": s["total_tokens"],
                                    "parent": (
                                        {"id": gid("Span", s["parent_span_id"])}
                                        if s["parent_span_id"]
                                        else None
                                    ),
                                    "componentVersions": [
                                        {
                                            "id": gid("ComponentVersion", v["id"]),
                                            "versionNumber": v["version_number"],
                                            "contentHash": v["content_hash"],
                                        }
                                        for v in versions[s["id"]]
                                    ],
                                }
                                for s in spans
                            ]
                        },
                    }
                ]
                if trace
                else []
            },
        }
    }


async def conversation_list(db: asyncpg.Connection) -> dict[str, Any]:
    """`data` of deep_read.LIST_PAGE: the page, its total, each one's last message."""
    # The API's default list: ACTIVE conversations only (ARCHIVED and CLOSED when asked).
    total = await db.fetchval("SELECT count(*) FROM conversations WHERE status = 'ACTIVE'")
    rows = await db.fetch(
        "SELECT c.id, c.title, c.status, c.message_count, c.total_tokens, c.cost,"
        " c.last_activity_at, m.id AS m_id, m.role, m.content, m.created_at"
        " FROM conversations c LEFT JOIN LATERAL ("
        "   SELECT id, role, content, created_at FROM messages"
        "   WHERE conversation_id = c.id ORDER BY seq DESC LIMIT 1) m ON true"
        " WHERE c.status = 'ACTIVE'"
        " ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $1",
        CONVERSATIONS_PER_PAGE,
    )
    return {
        "conversations": {
            "totalCount": total,
            "nodes": [
                {
                    "id": gid("Conversation", r["id"]),
                    "title": r["title"],
                    "status": r["status"],
                    "messageCount": r["message_count"],
                    "totalTokens": r["total_tokens"],
                    "cost": r["cost"],
                    "lastActivityAt": iso(r["last_activity_at"]),
                    "lastMessage": (
                        {
                            "id": gid("Message", r["m_id"]),
                            "role": r["role"],
                            "content": r["content"],
                            "createdAt": iso(r["created_at"]),
                        }
                        if r["m_id"]
                        else None
                    ),
                }
                for r in rows
            ],
        }
    }


def create_baseline_app(dsn: str) -> Starlette:
    """The baseline route: the SQL above, json.dumps, nothing else."""
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pools.append(await asyncpg.create_pool(dsn, min_size=4, max_size=16))
        yield
        await pools[0].close()

    def respond(data: dict[str, Any]) -> Response:
        body = json.dumps({"data": data}, separators=(",", ":"))
        return Response(body, media_type="application/json")

    async def page(request: Request) -> Response:
        async with pools[0].acquire() as db:
            conversation = uuid.UUID(request.path_params["id"])
            return respond(await conversation_page(db, conversation))

    async def listing(request: Request) -> Response:
        async with pools[0].acquire() as db:
            return respond(await conversation_list(db))

    async def healthz(request: Request) -> Response:
        return Response("ok")

    return Starlette(
        routes=[
            Route("/conversation/{id}", page),
            Route("/conversations", listing),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


if __name__ == "__main__":
    uvicorn.run(
        create_baseline_app(asyncpg_dsn(os.environ["DATABASE_URL"])),
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        log_level="warning",
    )
