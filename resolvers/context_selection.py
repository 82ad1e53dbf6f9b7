"""Which of the messages a context window's walk passed make the window.

The limits keep the newest eligible messages (resolvers/context_window.py); then two
guarantees. The latest user prompt is always in: when the limits left it out, it goes
first and the newest messages that fit beside it follow (the ones between are left
out); when it alone exceeds the budget, it is the whole window, cut to the budget by
keeping its end, where a long prompt (a pasted document, a log) usually asks its
question. And a tool result is never without its call: a window runs to the leaf, so a
call in it has its TOOL messages after it, and TOOL messages that open the window (their
call older than it) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from models import Message
from models.enums import MessageRole

# Characters per token of the estimate used where a message stores no token count.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str | None) -> int:
    """ceil(characters / 4): the same arithmetic as resolvers.context_window's SQL."""
    return (len(text or "") + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


@dataclass(frozen=True)
class Sized:
    message: Message
    tokens: int


@dataclass(frozen=True)
class Walked(Sized):
    """A message the walk passed: whether the window may hold it, and the eligible
    messages and their tokens counted from the leaf down to it, itself included."""

    eligible: bool
    recency: int
    running: int

    def within(self, last_n: int | None, budget: int | None) -> bool:
        return (last_n is None or self.recency <= last_n) and (
            budget is None or self.running <= budget
        )


@dataclass(frozen=True)
class Selection:
    rows: list[Sized]
    tokens: int
    # Whether the limits left out messages the window would hold, or cut the prompt.
    truncated: bool
    # The text kept of the prompt (rows[0]) when it alone exceeded the budget.
    cut_content: str | None = None


def selected(
    walked: list[Walked], prompt: Sized | None, last_n: int | None, budget: int | None
) -> Selection:
    """The window from the walked messages (oldest first) and the branch's latest
    prompt, within `last_n` messages and `budget` tokens (None: no limit)."""
    eligible = [w for w in walked if w.eligible]
    kept = [w for w in eligible if w.within(last_n, budget)]
    left_out = len(kept) < len(eligible)
    if prompt is None or any(w.message.id == prompt.message.id for w in kept):
        rows = _paired(kept)
        return Selection(rows, _tokens(rows), left_out or len(rows) < len(kept))
    room = None if budget is None else budget - prompt.tokens
    if room is not None and room < 0:
        cut = _cut(prompt.message.content, budget or 0)
        return Selection([prompt], estimate_tokens(cut), True, cut)
    n = None if last_n is None else last_n - 1
    rows = [prompt, *_paired([w for w in kept if w.within(n, room)])]
    return Selection(rows, _tokens(rows), True)


def _paired(rows: list[Walked]) -> list[Sized]:
    """`rows` without the TOOL messages that open them (their call is older)."""
    first = next((i for i, w in enumerate(rows) if w.message.role != MessageRole.TOOL), len(rows))
    return list(rows[first:])


def _cut(text: str, tokens: int) -> str:
    """The end of `text` that fits `tokens` (its last tokens x 4 characters)."""
    return text[max(len(text) - tokens * CHARS_PER_TOKEN, 0) :]


def _tokens(rows: list[Sized]) -> int:
    return sum(row.tokens for row in rows)
