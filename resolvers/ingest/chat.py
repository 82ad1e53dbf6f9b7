"""The messages a model call's span carries, in the shapes instrumentations write them.

GenAI (`gen_ai.input.messages` / `gen_ai.output.messages`): `[{role, parts}]`, parts as
the semantic conventions name them (text, tool_call, tool_call_response with
`response`, or `result` as pydantic-ai writes it), as Anthropic's content blocks
(text, tool_use, tool_result with tool_use_id and is_error) or a message as OpenAI's
API takes it (content, tool_calls, tool_call_id). OpenInference: flattened,
`llm.input_messages.N.message.{role, content, contents, tool_calls, tool_call_id}`.

Each tool result is a TOOL message of its own, answering its call: a request made only
of tool results (pydantic-ai sends them with role "user") is no USER message.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from models.enums import MessageRole
from resolvers.ingest.envelopes import tool_output
from resolvers.ingest.values import as_text, json_value
from resolvers.json_limits import JsonLimits

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
FLAT_CONTENT = re.compile(r"^contents\.(\d+)\.message_content\.(.+)$")
RESULT_PARTS = {"tool_call_response", "tool_result"}


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
    # A TOOL message answers this call, with this output (content is its text).
    tool_call_id: str | None = None
    result: Any = None
    # The result says the tool failed (Anthropic's is_error, a ToolMessage's status).
    failed: bool = False

    def fingerprint(self) -> str:
        """The same message re-sent in a later call's history has the same fingerprint."""
        calls = [[c.call_id, c.name, c.arguments] for c in self.tool_calls]
        raw = json.dumps([self.role, self.content, calls, self.tool_call_id], sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


def keyed(messages: Iterable[ChatMessage]) -> list[tuple[str, ChatMessage]]:
    """Each message with its ingest key: its position in the history it was sent with.

    A key derives from the message's fingerprint and the key of the message before it
    (the first from its fingerprint alone), so a history re-sent with the next call
    yields the same keys (stored once), while "yes" said after another history than
    an earlier "yes" is a message of its own.
    """
    found = []
    previous = ""
    for message in messages:
        chained = f"{previous}/{message.fingerprint()}"
        previous = hashlib.sha256(chained.encode()).hexdigest()[:32]
        found.append((previous, message))
    return found


def genai_messages(value: Any, limits: JsonLimits) -> list[ChatMessage]:
    """A gen_ai.input.messages / gen_ai.output.messages attribute's messages."""
    raw = json_value(value, limits)
    if not isinstance(raw, list):
        return []
    return [said for item in raw if isinstance(item, dict) for said in chat_messages(item, limits)]


def chat_messages(item: dict[str, Any], limits: JsonLimits) -> list[ChatMessage]:
    """One message as sent (GenAI parts, Anthropic blocks or OpenAI's fields): the message,
    and a TOOL message per tool result it carries, in the order it holds them."""
    if item.get("tool_call_id") is not None:
        return [_answer(item["tool_call_id"], item.get("content"), False, limits)]
    said = ChatMessage(ROLES.get(str(item.get("role", "")).lower(), MessageRole.USER))
    blocks = item.get("parts")
    if not isinstance(blocks, list):
        content = item.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    texts: list[str] = []
    answers: list[ChatMessage] = []
    kinds: list[Any] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        kinds.append(kind)
        if kind == "text" and block.get("content", block.get("text")) is not None:
            texts.append(as_text(block.get("content", block.get("text"))))
        elif kind in ("tool_call", "tool_use"):
            arguments = block.get("arguments", block.get("input"))
            said.tool_calls.append(_request(block.get("id"), block.get("name"), arguments, limits))
        elif kind == "tool_call_response":
            output = block.get("response", block.get("result"))
            answers.append(_answer(block.get("id"), output, False, limits))
        elif kind == "tool_result":
            failed = block.get("is_error") is True
            answers.append(_answer(block.get("tool_use_id"), block.get("content"), failed, limits))
    for call in item.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            said.tool_calls.append(
                _request(call.get("id"), function.get("name"), function.get("arguments"), limits)
            )
    said.content = "\n".join(texts)
    if not answers:
        return [said]
    rest = [said] if said.content or said.tool_calls else []
    return [*answers, *rest] if kinds[0] in RESULT_PARTS else [*rest, *answers]


def _request(call_id: Any, name: Any, arguments: Any, limits: JsonLimits) -> ToolRequest:
    return ToolRequest(str(call_id or ""), str(name or ""), arguments_of(arguments, limits))


def _answer(call_id: Any, raw: Any, failed: bool, limits: JsonLimits) -> ChatMessage:
    output = tool_output(raw, limits)
    return ChatMessage(
        MessageRole.TOOL,
        output.text,
        tool_call_id=_optional(call_id),
        result=output.value,
        failed=failed or output.failed,
    )


def arguments_of(value: Any, limits: JsonLimits) -> dict[str, Any]:
    decoded = json_value(value, limits)
    if decoded is None:
        return {}
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def system_instructions(value: Any, limits: JsonLimits) -> list[ChatMessage]:
    raw = json_value(value, limits)
    if isinstance(raw, str):
        return [ChatMessage(MessageRole.SYSTEM, raw)]
    if not isinstance(raw, list):
        return []
    texts = [str(p.get("content")) for p in raw if isinstance(p, dict) and p.get("content")]
    return [ChatMessage(MessageRole.SYSTEM, "\n".join(texts))] if texts else []


def flat_messages(attrs: dict[str, Any], direction: str, limits: JsonLimits) -> list[ChatMessage]:
    """OpenInference's flattened form: llm.input_messages.N.message.{role,content,...}."""
    fields: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        match = FLAT_MESSAGE.match(key)
        if match and match.group(1) == direction:
            fields.setdefault(int(match.group(2)), {})[match.group(3)] = value
    return [_flat_message(fields[index], limits) for index in sorted(fields)]


def _flat_message(values: dict[str, Any], limits: JsonLimits) -> ChatMessage:
    role = ROLES.get(str(values.get("role", "")).lower(), MessageRole.USER)
    content = values.get("content")
    if content is None:
        content = _flat_contents(values)
    if role == MessageRole.TOOL:
        return _answer(values.get("tool_call_id"), content, False, limits)
    message = ChatMessage(role, as_text(content))
    calls = _numbered(values, FLAT_TOOL_CALL)
    for index in sorted(calls):
        call = calls[index]
        message.tool_calls.append(
            _request(
                call.get("id"), call.get("function.name"), call.get("function.arguments"), limits
            )
        )
    return message


def _flat_contents(values: dict[str, Any]) -> str | None:
    """The text of message.contents.N.message_content.{type,text} (a content list)."""
    contents = _numbered(values, FLAT_CONTENT)
    texts = [
        str(contents[index]["text"])
        for index in sorted(contents)
        if contents[index].get("type", "text") == "text" and "text" in contents[index]
    ]
    return "\n".join(texts) if texts else None


def _numbered(values: dict[str, Any], pattern: re.Pattern[str]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for key, value in values.items():
        match = pattern.match(key)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return found


def _optional(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
