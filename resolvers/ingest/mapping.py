"""What an OpenTelemetry span means in Threadline's graph (the README's mapping table).

Two conventions are read: OpenTelemetry's GenAI semantic conventions (`gen_ai.*`) and
OpenInference (`openinference.span.kind`, `llm.*`, `tool.*`, `input.value`...).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from models.enums import MessageRole, SpanKind
from resolvers import validation
from resolvers.errors import BadInput
from resolvers.ingest.otlp import IncomingSpan
from resolvers.json_limits import JsonLimits
from resolvers.writes.totals import MAX_TOTAL

OPERATION_KINDS = {
    "chat": SpanKind.LLM,
    "text_completion": SpanKind.LLM,
    "generate_content": SpanKind.LLM,
    "embeddings": SpanKind.EMBEDDING,
    "retrieval": SpanKind.RETRIEVER,
    "execute_tool": SpanKind.TOOL,
    "invoke_agent": SpanKind.AGENT,
    "create_agent": SpanKind.AGENT,
}
ROLES = {
    "user": MessageRole.USER,
    "human": MessageRole.USER,
    "assistant": MessageRole.ASSISTANT,
    "model": MessageRole.ASSISTANT,
    "ai": MessageRole.ASSISTANT,
    "system": MessageRole.SYSTEM,
    "developer": MessageRole.SYSTEM,
    "tool": MessageRole.TOOL,
    "function": MessageRole.TOOL,
}
# llm.input_messages.3.message.tool_calls.0.tool_call.function.name -> (3, rest)
FLAT_MESSAGE = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.(.+)$")
FLAT_TOOL_CALL = re.compile(r"^tool_calls\.(\d+)\.tool_call\.(.+)$")


@dataclass(frozen=True)
class ToolRequest:
    """A tool call an LLM asked for."""

    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class ChatMessage:
    role: MessageRole
    content: str = ""
    tool_calls: list[ToolRequest] = field(default_factory=list)
    # A TOOL message answers this call.
    tool_call_id: str | None = None

    def fingerprint(self) -> str:
        """The same message re-sent in a later call's history has the same fingerprint."""
        calls = [[c.call_id, c.name, c.arguments] for c in self.tool_calls]
        raw = json.dumps([self.role, self.content, calls, self.tool_call_id], sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ToolRun:
    """What a TOOL span executed."""

    name: str
    call_id: str | None
    arguments: dict[str, Any]
    result: Any


@dataclass
class SpanFacts:
    kind: SpanKind
    model: str | None
    provider: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    conversation_key: str | None
    user_id: str | None
    agent_name: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str | None
    messages_in: list[ChatMessage]
    messages_out: list[ChatMessage]
    tool: ToolRun | None


def facts(span: IncomingSpan, limits: JsonLimits) -> SpanFacts:
    """The span's meaning; BadInput when it holds something no database can store, or
    JSON past the limits."""
    where = f"span {span.span_id}"
    attrs = span.attributes
    validation.storable(where, {"name": span.name, "attributes": attrs})
    validation.storable(where, {"resource": span.resource})
    # As the span stores them (resolvers.ingest.traces).
    limits.check(f"{where}.attributes", {**span.resource, **attrs})
    try:
        return _facts(span, limits)
    except BadInput as exc:
        raise BadInput(f"{where}: {exc.message}") from None


def _facts(span: IncomingSpan, limits: JsonLimits) -> SpanFacts:
    attrs = span.attributes
    kind = span_kind(attrs)
    input_tokens = _count(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    input_tokens = input_tokens or _count(attrs, "llm.token_count.prompt")
    output_tokens = _count(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    output_tokens = output_tokens or _count(attrs, "llm.token_count.completion")
    total = _count(attrs, "llm.token_count.total") or input_tokens + output_tokens
    messages_in = _genai_messages(attrs, "gen_ai.input.messages", limits) or _flat_messages(
        attrs, "input", limits
    )
    instructions = _system_instructions(attrs.get("gen_ai.system_instructions"), limits)
    messages_out = _genai_messages(attrs, "gen_ai.output.messages", limits) or _flat_messages(
        attrs, "output", limits
    )
    return SpanFacts(
        kind=kind,
        model=_text(attrs, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name"),
        provider=_text(
            attrs, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"
        ),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=min(total, MAX_TOTAL),
        conversation_key=_text(attrs, "gen_ai.conversation.id", "session.id"),
        user_id=_text(attrs, "user.id", "enduser.id"),
        agent_name=_text(attrs, "gen_ai.agent.name") or _text(span.resource, "service.name"),
        inputs=_io(attrs, "input.value"),
        outputs=_io(attrs, "output.value"),
        error=_error(span),
        messages_in=instructions + messages_in,
        messages_out=messages_out,
        tool=_tool_run(attrs, limits) if kind == SpanKind.TOOL else None,
    )


def span_kind(attrs: dict[str, Any]) -> SpanKind:
    operation = OPERATION_KINDS.get(str(attrs.get("gen_ai.operation.name", "")).lower())
    if operation is not None:
        return operation
    named = str(attrs.get("openinference.span.kind", "")).upper()
    return SpanKind(named) if named in SpanKind.__members__ else SpanKind.OTHER


def _text(attrs: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and str(value).strip():
            # Identifiers are indexed columns: keep them within their limit.
            return str(value)[: validation.MAX_IDENTIFIER_LENGTH]
    return None


def _count(attrs: dict[str, Any], *keys: str) -> int:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return min(int(value), validation.MAX_TOKENS_PER_ITEM)
    return 0


def _io(attrs: dict[str, Any], key: str) -> dict[str, Any]:
    value = attrs.get(key)
    return {} if value is None else {"value": value}


def _error(span: IncomingSpan) -> str | None:
    if not span.error:
        return None
    exceptions = [a.get("exception.message") for name, a in span.events if name == "exception"]
    return span.status_message or next((str(m) for m in exceptions if m), None) or "error"


def json_value(value: Any, limits: JsonLimits) -> Any:
    """A JSON-encoded attribute decoded (conventions send structures as strings).

    What it holds is stored, and encoded again: it must be storable, and within the
    depth limit (its size is its attribute's, within the size limit).
    """
    if not isinstance(value, str):
        return value
    where = "a JSON-encoded attribute"
    try:
        decoded = json.loads(value)
    except RecursionError:
        raise limits.too_deep(where) from None
    except ValueError:
        return value
    limits.check_depth(where, decoded)
    validation.storable(where, decoded)
    return decoded


def _arguments(value: Any, limits: JsonLimits) -> dict[str, Any]:
    decoded = json_value(value, limits)
    if decoded is None:
        return {}
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def _genai_messages(attrs: dict[str, Any], key: str, limits: JsonLimits) -> list[ChatMessage]:
    """gen_ai.input.messages / gen_ai.output.messages: [{role, parts: [{type, ...}]}]."""
    raw = json_value(attrs.get(key), limits)
    if not isinstance(raw, list):
        return []
    return [_genai_message(item, limits) for item in raw if isinstance(item, dict)]


def _genai_message(item: dict[str, Any], limits: JsonLimits) -> ChatMessage:
    message = ChatMessage(ROLES.get(str(item.get("role", "")).lower(), MessageRole.USER))
    texts: list[str] = []
    parts = item.get("parts")
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and part.get("content") is not None:
            texts.append(str(part["content"]))
        elif kind == "tool_call":
            message.tool_calls.append(
                ToolRequest(
                    str(part.get("id") or ""),
                    str(part.get("name") or ""),
                    _arguments(part.get("arguments"), limits),
                )
            )
        elif kind == "tool_call_response":
            message.tool_call_id = str(part.get("id") or "") or None
            texts.append(_as_text(part.get("response")))
    message.content = "\n".join(texts)
    return message


def _system_instructions(value: Any, limits: JsonLimits) -> list[ChatMessage]:
    raw = json_value(value, limits)
    if isinstance(raw, str):
        return [ChatMessage(MessageRole.SYSTEM, raw)]
    if not isinstance(raw, list):
        return []
    texts = [str(p.get("content")) for p in raw if isinstance(p, dict) and p.get("content")]
    return [ChatMessage(MessageRole.SYSTEM, "\n".join(texts))] if texts else []


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _flat_messages(attrs: dict[str, Any], direction: str, limits: JsonLimits) -> list[ChatMessage]:
    """OpenInference's flattened form: llm.input_messages.N.message.{role,content,...}."""
    fields: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        match = FLAT_MESSAGE.match(key)
        if match and match.group(1) == direction:
            fields.setdefault(int(match.group(2)), {})[match.group(3)] = value
    return [_flat_message(fields[index], limits) for index in sorted(fields)]


def _flat_message(values: dict[str, Any], limits: JsonLimits) -> ChatMessage:
    message = ChatMessage(
        ROLES.get(str(values.get("role", "")).lower(), MessageRole.USER),
        _as_text(values.get("content")),
        tool_call_id=_optional(values.get("tool_call_id")),
    )
    calls: dict[int, dict[str, Any]] = {}
    for key, value in values.items():
        match = FLAT_TOOL_CALL.match(key)
        if match:
            calls.setdefault(int(match.group(1)), {})[match.group(2)] = value
    for index in sorted(calls):
        call = calls[index]
        message.tool_calls.append(
            ToolRequest(
                str(call.get("id") or ""),
                str(call.get("function.name") or ""),
                _arguments(call.get("function.arguments"), limits),
            )
        )
    return message


def _optional(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _tool_run(attrs: dict[str, Any], limits: JsonLimits) -> ToolRun:
    name = _text(attrs, "gen_ai.tool.name", "tool.name", "tool_call.function.name") or "tool"
    arguments = attrs.get("gen_ai.tool.call.arguments", attrs.get("tool_call.function.arguments"))
    if arguments is None:
        arguments = attrs.get("input.value")
    result = attrs.get("gen_ai.tool.call.result", attrs.get("output.value"))
    return ToolRun(
        name=name,
        call_id=_text(attrs, "gen_ai.tool.call.id", "tool_call.id"),
        arguments=_arguments(arguments, limits),
        result=json_value(result, limits),
    )


def keyed(messages: Iterable[ChatMessage]) -> list[tuple[str, ChatMessage]]:
    """Each message with its ingest key: its fingerprint and which occurrence of it this is.

    A history re-sent with the next call yields the same keys (stored once), while a
    message really said twice ("yes", "yes") keeps two.
    """
    seen: dict[str, int] = {}
    found = []
    for message in messages:
        fingerprint = message.fingerprint()
        seen[fingerprint] = seen.get(fingerprint, 0) + 1
        found.append((f"{fingerprint}:{seen[fingerprint]}", message))
    return found
