"""A conversation document (resolvers.export) as a Markdown transcript for people.

The transcript follows the latest branch, as the conversation page shows it, with
each message's tool calls, then the plans with their steps and the traces.
"""

from __future__ import annotations

import json
from typing import Any

FENCE = "```"


def _json_block(value: Any) -> list[str]:
    return [f"{FENCE}json", json.dumps(value, indent=2, ensure_ascii=False), FENCE]


def latest_branch(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages from the first down to the latest (highest `seq`), in order."""
    if not messages:
        return []
    by_id = {m["id"]: m for m in messages}
    branch = []
    current: dict[str, Any] | None = max(messages, key=lambda m: m["seq"])
    while current is not None:
        branch.append(current)
        current = by_id.get(current["parent_message_id"])
    return branch[::-1]


def _message(message: dict[str, Any], calls: list[dict[str, Any]]) -> list[str]:
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


def _plans(tables: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = []
    steps = sorted(tables.get("plan_steps", []), key=lambda s: s["position"])
    for plan in tables.get("plans", []):
        lines += [f"## Plan: {plan['title']} ({plan['status']})", ""]
        if plan.get("description"):
            lines += [plan["description"], ""]
        for step in (s for s in steps if s["plan_id"] == plan["id"]):
            done = "x" if step["status"] == "COMPLETED" else " "
            number, text = step["position"] + 1, step["description"]
            lines.append(f"{number}. [{done}] {text} ({step['status']})")
        lines.append("")
    return lines


def _traces(tables: dict[str, list[dict[str, Any]]]) -> list[str]:
    traces = tables.get("traces", [])
    if not traces:
        return []
    lines = ["## Traces", ""]
    for trace in traces:
        spans = sum(1 for s in tables.get("spans", []) if s["trace_id"] == trace["id"])
        duration = "running" if trace["duration_ms"] is None else f"{trace['duration_ms']:g} ms"
        name = trace["name"] or "trace"
        lines.append(
            f"- {name}: {trace['status']}, {duration}, {spans} span(s), "
            f"{trace['total_tokens']} tokens"
        )
    return [*lines, ""]


def markdown(document: dict[str, Any]) -> str:
    tables = document["tables"]
    conversation = tables["conversations"][0]
    lines = [f"# {conversation['title'] or 'Untitled conversation'}", ""]
    lines.append(
        f"{conversation['kind']} · {conversation['status']} · owner {conversation['owner_id']} · "
        f"started {conversation['created_at']} · {conversation['message_count']} message(s) · "
        f"{conversation['total_tokens']} tokens"
    )
    participants = ", ".join(
        f"{p['participant_id']} ({p['participant_type'].lower()}, {p['role'].lower()})"
        for p in tables.get("participants", [])
    )
    lines += ["", f"Participants: {participants}", ""]
    messages = tables.get("messages", [])
    branch = latest_branch(messages)
    lines += ["## Messages", ""]
    if len(branch) < len(messages):
        lines += [f"(the latest branch; {len(messages) - len(branch)} message(s) on others)", ""]
    calls = sorted(tables.get("tool_calls", []), key=lambda c: c["position"])
    for message in branch:
        lines += _message(message, [c for c in calls if c["message_id"] == message["id"]])
    lines += _plans(tables) + _traces(tables)
    return "\n".join(lines).rstrip() + "\n"
