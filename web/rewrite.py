"""A send that rewrites whole responses: for middleware that must see a response's body
before its head leaves (its status and headers depend on the body)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Message, Send

# What a rewrite returns for a response: its new start message and body.
Rewrite = Callable[[Message, bytes], tuple[Message, bytes]]


def rewriting(send: Send, wanted: Callable[[Message], bool], rewrite: Rewrite) -> Send:
    """A send that holds back each response whose start `wanted` accepts until its body
    is complete, then sends what `rewrite` makes of them; other responses pass."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def send_rewritten(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start" and wanted(message):
            start = message
            return
        if start is None or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        new_start, body = rewrite(start, b"".join(chunks))
        await send(new_start)
        await send({"type": "http.response.body", "body": body})

    return send_rewritten
