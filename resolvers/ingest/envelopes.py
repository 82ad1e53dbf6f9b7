"""A tool's output, out of the envelopes frameworks wrap it in.

A ToolCall's result is what the tool returned, whichever way it was reported (a TOOL
span's output, a tool message in the next model call's history). Unwrapped, layer by
layer:

- LangChain's serialised ToolMessage: `{"type": "tool", "data": {"content": ...}}`
  (messages_to_dict), `{"lc": 1, "type": "constructor", "id": [..., "ToolMessage"],
  "kwargs": {"content": ...}}` (dumpd), or its model_dump, `{"type": "tool",
  "content": ..., "tool_call_id": ...}`; its `status: "error"` means the tool failed;
- content given as text parts, `[{"type": "text", "text" | "content": ...}]` (MCP,
  Anthropic tool_result blocks, OpenAI content lists): their text;
- a string holding a JSON object or array: the structure it encodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resolvers.ingest.values import as_text, json_document
from resolvers.json_limits import JsonLimits

# Envelope, content parts, JSON text: three layers in practice; a bound all the same.
MAX_LAYERS = 6


@dataclass(frozen=True)
class ToolOutput:
    value: Any
    # The output as text: the string the tool gave when it gave one (JSON as it was
    # written), else the value encoded.
    text: str
    # The envelope says the tool failed (a ToolMessage with status "error").
    failed: bool = False


def tool_output(raw: Any, limits: JsonLimits) -> ToolOutput:
    value, failed, text = raw, False, None
    for _ in range(MAX_LAYERS):
        text = value if isinstance(value, str) else None
        value = json_document(value, limits)
        wrapped = _tool_message(value)
        if wrapped is not None:
            value, failed = wrapped[0], failed or wrapped[1]
            continue
        parts = _text_of_parts(value)
        if parts is None:
            break
        value = parts
    else:
        text = None
    return ToolOutput(value, as_text(value) if text is None else text, failed)


def _tool_message(value: Any) -> tuple[Any, bool] | None:
    """A serialised LangChain ToolMessage's content, and whether it reports an error."""
    if not isinstance(value, dict):
        return None
    fields: Any = None
    if value.get("type") == "tool" and isinstance(value.get("data"), dict):
        fields = value["data"]
    elif value.get("lc") == 1 and value.get("type") == "constructor":
        names = value.get("id")
        if isinstance(names, list) and names and names[-1] == "ToolMessage":
            fields = value.get("kwargs")
    elif value.get("type") == "tool" and "tool_call_id" in value:
        fields = value
    if not isinstance(fields, dict) or "content" not in fields:
        return None
    return fields["content"], fields.get("status") == "error"


def _text_of_parts(value: Any) -> str | None:
    """The text of a list made only of text parts; None for anything else."""
    if not isinstance(value, list) or not value:
        return None
    texts = []
    for part in value:
        if not isinstance(part, dict) or part.get("type") != "text":
            return None
        text = part.get("text", part.get("content"))
        if not isinstance(text, str):
            return None
        texts.append(text)
    return "\n".join(texts)
