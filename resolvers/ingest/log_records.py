"""GenAI event log records, as a span keeps them, and the messages they show.

OpenTelemetry's GenAI instrumentations (Node's @opentelemetry/instrumentation-openai,
Python's opentelemetry-instrumentation-openai-v2) may send a model call's messages as log
records of its span rather than as span attributes: one record per input message
(`gen_ai.{system,user,assistant,tool}.message`, body `{content, tool_calls, id}`), one
per answer (`gen_ai.choice`, body `{index, finish_reason, message}`), or one record
holding both (`gen_ai.client.inference.operation.details`, whose attributes are the
span's `gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`).

A span keeps the records it received in its attributes, under RECORDS, so that records
arriving in several exports, before or after the span, add up to the same history. Its
messages are its own, else (input and output each) those of its records: a span that
carries its messages and sends them as records too has them once.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

from resolvers import validation
from resolvers.errors import BadInput
from resolvers.ingest.batch import Mapped, Outcome
from resolvers.ingest.chat import ChatMessage, chat_messages, genai_messages, system_instructions
from resolvers.ingest.otlp import IncomingRecord
from resolvers.json_limits import JsonLimits

# The span attribute holding its records (a Threadline name: no convention names one).
RECORDS = "threadline.log_records"
INPUT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE = "gen_ai.choice"
DETAILS = "gen_ai.client.inference.operation.details"
EVENTS = frozenset({*INPUT_ROLES, CHOICE, DETAILS})
# The attributes of a DETAILS record that hold messages: all a record keeps of them.
DETAIL_ATTRIBUTES = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
)

SpanKey = tuple[str, str]  # (trace id, span id), in hex


def by_span(
    incoming: list[IncomingRecord], limits: JsonLimits, outcome: Outcome
) -> dict[SpanKey, list[dict[str, Any]]]:
    """The records to keep, as a span keeps them, by the span they belong to; the others
    are refused into `outcome`.

    Each has a key: its content's digest and which occurrence of that content it is
    among its span's records in this export. An export sent again yields the same keys
    (kept once), while two records alike in one export ("yes" twice in a history) stay two.
    """
    found: dict[SpanKey, list[dict[str, Any]]] = {}
    seen: Counter[tuple[SpanKey, str]] = Counter()
    for record in incoming:
        where = f"log record {record.event or '(no event name)'} of span {record.span_id}"
        if record.event not in EVENTS:
            outcome.refuse(1, f"{where}: not a GenAI message event")
            continue
        kept: dict[str, Any] = {
            "event": record.event,
            "time": record.time_unix_nano,
            "body": record.body,
        }
        details = {k: record.attributes[k] for k in DETAIL_ATTRIBUTES if k in record.attributes}
        if details:
            kept["attributes"] = details
        try:
            validation.storable(where, kept)
            limits.check(where, kept)
        except BadInput as exc:
            outcome.refuse(1, exc.message)
            continue
        span = (record.trace_id, record.span_id)
        digest = hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:32]
        seen[(span, digest)] += 1
        kept["key"] = f"{digest}:{seen[(span, digest)]}"
        found.setdefault(span, []).append(kept)
    return found


def kept_by(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """The records a span keeps (attributes as stored, or as sent: anything else there
    is no record)."""
    value = attributes.get(RECORDS)
    if not isinstance(value, list):
        return []
    return [r for r in value if isinstance(r, dict) and isinstance(r.get("key"), str)]


def with_records(
    attributes: dict[str, Any], records: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The attributes with the records the span does not keep yet; None when it keeps
    them all."""
    kept = kept_by(attributes)
    known = {r["key"] for r in kept}
    new = []
    for record in records:
        if record["key"] not in known:
            known.add(record["key"])
            new.append(record)
    return {**attributes, RECORDS: [*kept, *new]} if new else None


def show(m: Mapped, limits: JsonLimits) -> None:
    """Give the span the messages of its records where it carries none of its own."""
    records = kept_by(m.span.attributes)
    if not records:
        return
    inputs, outputs = messages_of(records, limits)
    if not m.facts.messages_in:
        m.facts.messages_in = inputs
    if not m.facts.messages_out:
        m.facts.messages_out = outputs


def messages_of(
    records: list[dict[str, Any]], limits: JsonLimits
) -> tuple[list[ChatMessage], list[ChatMessage]]:
    """The input history and the answers the records show, in the order they were
    emitted (answers by their choice index). A record without content (an
    instrumentation that does not capture it) says nothing, and shows no message."""
    inputs: list[ChatMessage] = []
    outputs: list[ChatMessage] = []
    choices: list[dict[str, Any]] = []
    for record in sorted(records, key=_time):
        event, body = record.get("event"), record.get("body")
        role = INPUT_ROLES.get(str(event))
        if role is not None:
            inputs.extend(chat_messages(_input(role, body), limits))
        elif event == CHOICE and isinstance(body, dict):
            choices.append(body)
        elif event == DETAILS:
            attrs = record.get("attributes")
            attrs = attrs if isinstance(attrs, dict) else {}
            inputs.extend(system_instructions(attrs.get("gen_ai.system_instructions"), limits))
            inputs.extend(genai_messages(attrs.get("gen_ai.input.messages"), limits))
            outputs.extend(genai_messages(attrs.get("gen_ai.output.messages"), limits))
    for choice in sorted(choices, key=_index):
        outputs.extend(chat_messages(_answer(choice), limits))
    return [m for m in inputs if _says(m)], [m for m in outputs if _says(m)]


def _input(role: str, body: Any) -> dict[str, Any]:
    """An input record's body as the message OpenAI's API takes (chat.chat_messages)."""
    if not isinstance(body, dict):
        return {"role": role, "content": body}
    message = {"role": role, "content": body.get("content"), "tool_calls": body.get("tool_calls")}
    if role == "tool" and body.get("id") is not None:
        message["tool_call_id"] = body["id"]
    return message


def _answer(choice: dict[str, Any]) -> dict[str, Any]:
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    # Node's instrumentation leaves the role out: an answer is the assistant's.
    return {
        "role": message.get("role") or "assistant",
        "content": message.get("content"),
        "tool_calls": message.get("tool_calls"),
    }


def _says(message: ChatMessage) -> bool:
    return bool(message.content or message.tool_calls)


def _time(record: dict[str, Any]) -> int:
    time = record.get("time")
    return time if isinstance(time, int) else 0


def _index(choice: dict[str, Any]) -> int:
    index = choice.get("index")
    return index if isinstance(index, int) else 0
