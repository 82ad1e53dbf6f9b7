"""An OpenAI-compatible chat provider that answers deterministically, served on loopback.

POST /v1/chat/completions answers, in order of precedence:
- a tool call, when tools are offered and no tool result is in the messages yet;
- an answer quoting the last tool result, once one is there;
- an answer quoting the last user message otherwise.
Streaming (`stream: true`) sends the same answer as SSE chunks, with a final usage chunk
when `stream_options.include_usage` asks for it. Every answer's usage is recorded, so
tests derive the totals they expect from what the provider said, not from constants.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

# A dated snapshot, as OpenAI answers: the price table must know it as gpt-4o-mini.
MODEL = "gpt-4o-mini-2024-07-18"
# What the model asks of any tool it calls; the tests' tools take a city.
TOOL_ARGUMENTS = {"city": "Paris"}
CREATED = 1_750_000_000


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Reply:
    """One answer: its text, or the tool call it asks for, and what it cost."""

    response_id: str
    content: str | None
    tool_call: ToolCall | None
    usage: Usage

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_call else "stop"

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_call:
            message["tool_calls"] = [_tool_call(self.tool_call, self.tool_call.arguments)]
        return message


@dataclass
class FakeProvider:
    """The provider's state: the replies it gave, in order (cleared per test)."""

    replies: list[Reply] = field(default_factory=list)
    url: str = ""
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def usage(self) -> Usage:
        """The sum of every reply's usage."""
        return Usage(
            sum(r.usage.input_tokens for r in self.replies),
            sum(r.usage.output_tokens for r in self.replies),
        )

    def call_ids(self) -> list[str]:
        """The ids of the tool calls asked for."""
        return [r.tool_call.call_id for r in self.replies if r.tool_call]

    def answers(self) -> list[str]:
        return [r.content for r in self.replies if r.content]

    def reply_to(self, request: dict[str, Any]) -> Reply:
        number = next(self._ids)
        messages = request.get("messages") or []
        results = [m for m in messages if m.get("role") == "tool"]
        content: str | None = None
        tool_call = None
        if request.get("tools") and not results:
            name = request["tools"][0]["function"]["name"]
            tool_call = ToolCall(f"call_{number}", name, json.dumps(TOOL_ARGUMENTS))
        elif results:
            content = f"The tool says: {text(results[-1].get('content'))}"
        else:
            users = [m for m in messages if m.get("role") == "user"]
            content = f"You said: {text(users[-1].get('content')) if users else ''}"
        # Some token counts that differ from call to call, as real ones do.
        prompt = sum(4 + len(text(m.get("content")).split()) for m in messages)
        completion = 9 if tool_call else 1 + len((content or "").split())
        reply = Reply(f"chatcmpl-{number}", content, tool_call, Usage(prompt, completion))
        self.replies.append(reply)
        return reply

    async def chat_completions(self, request: Request) -> Response:
        body = await request.json()
        reply = self.reply_to(body)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(_chunks(reply, include_usage)), media_type="text/event-stream"
            )
        return JSONResponse(
            {
                "id": reply.response_id,
                "object": "chat.completion",
                "created": CREATED,
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": reply.message(),
                        "finish_reason": reply.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": _usage(reply.usage),
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/v1/chat/completions", self.chat_completions, methods=["POST"])]
        )


def text(content: Any) -> str:
    """A message's content as text: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _tool_call(call: ToolCall, arguments: str) -> dict[str, Any]:
    return {
        "id": call.call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _chunks(reply: Reply, include_usage: bool) -> list[dict[str, Any]]:
    """The reply as OpenAI streams it: the role, the text in pieces (or the tool call, its
    arguments in two pieces), the finish reason, then the usage if asked for."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if reply.tool_call:
        arguments = reply.tool_call.arguments
        half = len(arguments) // 2
        first = _tool_call(reply.tool_call, arguments[:half])
        deltas.append({"tool_calls": [{"index": 0, **first}]})
        deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]})
    else:
        deltas += [{"content": word} for word in _pieces(reply.content or "")]
    choices: list[list[dict[str, Any]]] = [
        [{"index": 0, "delta": d, "finish_reason": None}] for d in deltas
    ]
    choices.append([{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}])
    chunks = [_chunk(reply, c) for c in choices]
    if include_usage:
        # Then every chunk says `usage: null`, and one more, without choices, has it.
        for chunk in chunks:
            chunk["usage"] = None
        chunks.append({**_chunk(reply, []), "usage": _usage(reply.usage)})
    return chunks


def _pieces(content: str) -> list[str]:
    words = content.split(" ")
    return [word + " " for word in words[:-1]] + words[-1:]


def _chunk(reply: Reply, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": reply.response_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": choices,
    }


async def _sse(chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"


@contextmanager
def serving() -> Iterator[FakeProvider]:
    """The provider served by uvicorn on a free port, on a thread and event loop of its own
    (the instrumented clients block; they must not share a loop with it)."""
    provider = FakeProvider()
    config = uvicorn.Config(
        provider.app(), host="127.0.0.1", port=0, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake provider did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    provider.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
