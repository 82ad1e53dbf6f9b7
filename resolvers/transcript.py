"""A conversation as a Markdown transcript for people, written as it is read.

The transcript follows the latest branch, as the conversation page shows it, with
each message's tool calls, then the plans with their steps and the traces. Its rows
come in keyset batches (resolvers.conversation_reader): GET
/conversations/{id}/markdown streams the text, conversationMarkdown gathers it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from models import Participant, Plan, PlanStep, Span, ToolCall, Trace
from resolvers.context import Context
from resolvers.conversation_reader import (
    ConversationReader,
    Row,
    branch_segments,
    latest_branch,
    message_count,
    reading,
)
from resolvers.errors import NotFound

FENCE = "```"


def _json_block(value: Any) -> list[str]:
    return [f"{FENCE}json", json.dumps(value, indent=2, ensure_ascii=False), FENCE]


def _text(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _message(message: Row, calls: list[Row]) -> list[str]:
    sender = f"{message['role'].lower()} · {message['sender_id']}"
    lines = [f"### {message['seq']}. {sender} · {message['created_at']}", ""]
    if message["content"]:
        lines += [message["content"], ""]
    if message.get("thinking"):
        lines += [f"> thinking: {line}" for line in message["thinking"].splitlines()] + [""]
    for call in calls:
        lines += [f"**Tool call** `{call['tool_name']}` ({call['status']})", ""]
        lines += _json_block(call["arguments"])
        if call.get("result") is not None:
            lines += ["", "Result:", "", *_json_block(call["result"])]
        if call.get("error"):
            lines += ["", f"Error: {call['error']}"]
        lines.append("")
    return lines


def _plan(plan: Row, steps: list[Row]) -> list[str]:
    lines = [f"## Plan: {plan['title']} ({plan['status']})", ""]
    if plan.get("description"):
        lines += [plan["description"], ""]
    for step in steps:
        done = "x" if step["status"] == "COMPLETED" else " "
        number, text = step["position"] + 1, step["description"]
        lines.append(f"{number}. [{done}] {text} ({step['status']})")
    return [*lines, ""]


def _trace(trace: Row, spans: int) -> str:
    duration = "running" if trace["duration_ms"] is None else f"{trace['duration_ms']:g} ms"
    name = trace["name"] or "trace"
    return (
        f"- {name}: {trace['status']}, {duration}, {spans} span(s), {trace['total_tokens']} tokens"
    )


def _by(rows: list[Row], key: str) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row[key], []).append(row)
    return grouped


def _ids(rows: list[Row]) -> list[uuid.UUID]:
    return [uuid.UUID(row["id"]) for row in rows]


def _heading(conversation: Row) -> str:
    return _text(
        [
            f"# {conversation['title'] or 'Untitled conversation'}",
            "",
            f"{conversation['kind']} · {conversation['status']} · owner "
            f"{conversation['owner_id']} · started {conversation['created_at']} · "
            f"{conversation['message_count']} message(s) · {conversation['total_tokens']} tokens",
            "",
        ]
    )


def _batches_of(reader: ConversationReader, model: Any) -> AsyncIterator[list[Row]]:
    """The conversation's rows of a table holding its id, in batches."""
    return reader.batches(select(model).where(col(model.conversation_id) == reader.conversation_id))


async def _children(
    reader: ConversationReader, model: Any, key: Any, parents: list[Row]
) -> dict[str, list[Row]]:
    """The rows of `model` whose `key` holds one of the parents' ids, by that id, each
    parent's in position order."""
    query = select(model).where(key.in_(_ids(parents)))
    found = await reader.rows(query.order_by(col(model.position), col(model.id)))
    return _by(found.json, key.name)


async def _participants(reader: ConversationReader) -> AsyncIterator[str]:
    """One line, written a batch at a time."""
    yield "Participants: "
    separator = ""
    async for batch in _batches_of(reader, Participant):
        for p in batch:
            kind, role = p["participant_type"].lower(), p["role"].lower()
            yield f"{separator}{p['participant_id']} ({kind}, {role})"
            separator = ", "
    yield "\n\n"


async def _messages(reader: ConversationReader) -> AsyncIterator[str]:
    branch = await latest_branch(reader)
    lines = ["## Messages", ""]
    others = await message_count(reader) - branch.length
    if others:
        lines += [f"(the latest branch; {others} message(s) on others)", ""]
    yield _text(lines)
    async for segment in branch_segments(reader, branch):
        calls = await _children(reader, ToolCall, col(ToolCall.message_id), segment)
        yield "".join(_text(_message(m, calls.get(m["id"], []))) for m in segment)


async def _plans(reader: ConversationReader) -> AsyncIterator[str]:
    async for plans in _batches_of(reader, Plan):
        steps = await _children(reader, PlanStep, col(PlanStep.plan_id), plans)
        yield "".join(_text(_plan(plan, steps.get(plan["id"], []))) for plan in plans)


async def _traces(reader: ConversationReader) -> AsyncIterator[str]:
    heading = _text(["## Traces", ""])
    async for traces in _batches_of(reader, Trace):
        counted = select(col(Span.trace_id), func.count()).where(
            col(Span.trace_id).in_(_ids(traces))
        )
        spans = await reader.pairs(counted.group_by(col(Span.trace_id)))
        lines = [_trace(trace, spans.get(uuid.UUID(trace["id"]), 0)) for trace in traces]
        if lines:
            yield heading + _text(lines)
            heading = ""


async def _pieces(reader: ConversationReader) -> AsyncIterator[str]:
    yield _heading(await reader.conversation())
    for part in (_participants, _messages, _plans, _traces):
        async for piece in part(reader):
            yield piece


async def markdown_chunks(reader: ConversationReader) -> AsyncGenerator[str]:
    """The transcript in pieces, with no blank space at its end but one newline.
    NOT_FOUND before anything when the principal may not see the conversation."""
    held = ""  # blank space, kept back until text follows it
    async for piece in _pieces(reader):
        text = held + piece
        kept = text.rstrip()
        held = text[len(kept) :]
        if kept:
            yield kept
    yield "\n"


async def markdown(
    ctx: Context, conversation_id: uuid.UUID, max_rows: int | None = None
) -> str | None:
    """The whole transcript, or None when the caller may not see the conversation; past
    `max_rows` rows, TOO_LARGE."""
    async with reading(ctx, conversation_id, max_rows) as reader:
        try:
            return "".join([chunk async for chunk in markdown_chunks(reader)])
        except NotFound:
            return None
