"""The title a conversation gets from its first user message, when it has none."""

from __future__ import annotations

from typing import Any

# The designed length of a title taken from a message (a title given is at most
# validation.MAX_TITLE_LENGTH).
AUTO_TITLE_LENGTH = 80
ELLIPSIS = "…"


def message_text(content: str, parts: list[Any]) -> str:
    """The text of a message: its content or, where that is blank (a client that sends
    typed parts only), its `text` parts in order. Reasoning, tool traffic and files are
    not its text."""
    if content.strip():
        return content
    texts = (p.get("text") for p in parts if isinstance(p, dict) and p.get("type") == "text")
    return "\n".join(text for text in texts if isinstance(text, str))


def title_from(content: str, parts: list[Any]) -> str | None:
    """The message's first non-blank line, trimmed, cut to AUTO_TITLE_LENGTH characters
    (at a word when one ends near the limit); None when it has no text."""
    lines = (line.strip() for line in message_text(content, parts).splitlines())
    line = next((line for line in lines if line), None)
    if line is None:
        return None
    if len(line) <= AUTO_TITLE_LENGTH:
        return line
    cut = line[: AUTO_TITLE_LENGTH - len(ELLIPSIS)]
    word_end = cut.rfind(" ")
    # A word boundary in the last quarter keeps the title readable; else cut mid-word.
    if word_end >= len(cut) * 3 // 4:
        cut = cut[:word_end]
    return cut.rstrip() + ELLIPSIS
