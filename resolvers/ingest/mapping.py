"""What an OpenTelemetry span means in Threadline's graph (the README's mapping table).

Two conventions are read: OpenTelemetry's GenAI semantic conventions (`gen_ai.*`) and
OpenInference (`openinference.span.kind`, `llm.*`, `tool.*`, `input.value`...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.enums import SpanKind
from resolvers import validation
from resolvers.errors import BadInput
from resolvers.ingest.chat import (
    ChatMessage,
    arguments_of,
    flat_messages,
    genai_messages,
    system_instructions,
)
from resolvers.ingest.envelopes import tool_output
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


@dataclass(frozen=True)
class ToolRun:
    """What a TOOL span executed."""

    name: str
    call_id: str | None
    arguments: dict[str, Any]
    # What the tool returned, out of its envelopes (resolvers.ingest.envelopes).
    result: Any
    # The result itself says the tool failed.
    failed: bool


@dataclass
class SpanFacts:
    kind: SpanKind
    model: str | None
    provider: str | None
    input_tokens: int
    # Of the input tokens, those read from the provider's prompt cache (priced lower).
    cached_input_tokens: int
    output_tokens: int
    total_tokens: int
    conversation_key: str | None
    user_id: str | None
    # The agent the span names itself (gen_ai.agent.name, gen_ai.agent.id).
    agent_name: str | None
    service: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str | None
    # The error's exception, structured as errorDetails (type, message, stack).
    error_details: dict[str, Any] | None
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
    messages_in = genai_messages(attrs.get("gen_ai.input.messages"), limits) or flat_messages(
        attrs, "input", limits
    )
    instructions = system_instructions(attrs.get("gen_ai.system_instructions"), limits)
    messages_out = genai_messages(attrs.get("gen_ai.output.messages"), limits) or flat_messages(
        attrs, "output", limits
    )
    error = _error(span)
    details = _error_details(span, error)
    if details is not None:
        validation.storable("exception", details)
        limits.check("exception", details)
    return SpanFacts(
        kind=kind,
        model=_text(attrs, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name"),
        provider=_text(
            attrs, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"
        ),
        input_tokens=input_tokens,
        cached_input_tokens=_count(
            attrs,
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
            "llm.token_count.prompt_details.cache_read",
        ),
        output_tokens=output_tokens,
        total_tokens=min(total, MAX_TOTAL),
        conversation_key=_text(attrs, "gen_ai.conversation.id", "session.id"),
        user_id=_text(attrs, "user.id", "enduser.id"),
        agent_name=_text(attrs, "gen_ai.agent.name", "gen_ai.agent.id"),
        service=_text(span.resource, "service.name"),
        inputs=_io(attrs, "input.value"),
        outputs=_io(attrs, "output.value"),
        error=error,
        error_details=details,
        messages_in=instructions + messages_in,
        messages_out=messages_out,
        tool=tool_run(attrs, limits) if kind == SpanKind.TOOL else None,
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


# The attributes of an `exception` event (OpenTelemetry's semantic conventions) that
# errorDetails holds, by errorDetails' field.
EXCEPTION_FIELDS = (
    ("type", "exception.type"),
    ("message", "exception.message"),
    ("stack", "exception.stacktrace"),
)


def _error_details(span: IncomingSpan, error: str | None) -> dict[str, Any] | None:
    """The first exception event of a failed span, as errorDetails; its message, if the
    event has none, is the span's error."""
    if error is None:
        return None
    for name, attrs in span.events:
        found = {k: str(attrs[a]) for k, a in EXCEPTION_FIELDS if attrs.get(a)}
        if name == "exception" and found:
            return {"message": error, **found}
    return None


def tool_run(attrs: dict[str, Any], limits: JsonLimits) -> ToolRun:
    """What a TOOL span ran, from its attributes (as sent, or as stored)."""
    name = _text(attrs, "gen_ai.tool.name", "tool.name", "tool_call.function.name") or "tool"
    arguments = attrs.get("gen_ai.tool.call.arguments", attrs.get("tool_call.function.arguments"))
    if arguments is None:
        arguments = attrs.get("input.value")
    output = tool_output(attrs.get("gen_ai.tool.call.result", attrs.get("output.value")), limits)
    return ToolRun(
        name=name,
        call_id=tool_call_id(attrs),
        arguments=arguments_of(arguments, limits),
        result=output.value,
        failed=output.failed,
    )


# Where a TOOL span names the call it ran (resolvers.ingest.tool_calls looks them up).
CALL_ID_KEYS = ("gen_ai.tool.call.id", "tool_call.id")


def tool_call_id(attrs: dict[str, Any]) -> str | None:
    return _text(attrs, *CALL_ID_KEYS)
