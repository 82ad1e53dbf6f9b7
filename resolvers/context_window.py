"""The context window: the slice of one branch an agent sends to its model.

Chosen in SQL by walking the branch from its leaf (resolvers/branches.py), counting the
eligible messages and summing their tokens from the newest back: "the last N" and "what
fits the budget" are where the walk stops, one message past the window (which tells
whether older messages were left out), so the window costs its own size, not the
conversation's. The same inputs always pick the same rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, not_, select, true
from sqlmodel import col

from models import Conversation, Message, ToolCall
from models.enums import MessageRole
from resolvers import reads
from resolvers.branches import Tally, walk
from resolvers.context import Context
from resolvers.errors import BadInput, NotFound
from resolvers.ids import to_global_id

# Characters per token of the estimate used where a message stores no token count.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str | None) -> int:
    """ceil(characters / 4): the same arithmetic as the SQL below."""
    return (len(text or "") + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def message_tokens(message: Any) -> ColumnElement[int]:
    """A message's own size: its stored output token count (what its text took to
    generate), else the estimate. Its input tokens are the whole prompt it answered,
    not its own size, so they are not used. `message`: Message or an alias of it."""
    return case(
        (col(message.output_tokens) > 0, col(message.output_tokens)),
        # Floor division (`//`): `/` would be true division, then rounded by PostgreSQL's cast.
        else_=(func.length(col(message.content)) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN,
    )


@dataclass(frozen=True)
class WindowRequest:
    conversation_id: uuid.UUID
    leaf_id: uuid.UUID | None = None
    last_n: int | None = None
    token_budget: int | None = None
    include_tools: bool = False
    include_system: bool = True


@dataclass
class Window:
    conversation: Conversation
    system_prompt: str | None
    pinned_facts: list[str]
    messages: list[Message]
    # Tokens of the preamble (system prompt, summary, pinned facts) and of the messages.
    token_count: int
    # Whether older messages of the branch were left out.
    truncated: bool


def _eligible(request: WindowRequest, message: Any) -> ColumnElement[bool]:
    """Whether a message of the branch may be in the window. `message`: Message or an
    alias of it."""
    found: list[ColumnElement[bool]] = []
    if not request.include_system:
        found.append(col(message.role) != MessageRole.SYSTEM)
    if not request.include_tools:
        # Tool results, and calls that say nothing but the call.
        has_calls = exists().where(col(ToolCall.message_id) == col(message.id))
        found.append(col(message.role) != MessageRole.TOOL)
        found.append(not_(and_(has_calls, func.trim(col(message.content)) == "")))
    return and_(*found) if found else true()


def _tallies(request: WindowRequest, last_n: int | None, budget: int | None) -> list[Tally]:
    """The eligible messages counted from the newest (up to `last_n`), and their tokens
    summed (up to `budget`)."""

    def eligible(message: Any) -> ColumnElement[int]:
        return case((_eligible(request, message), 1), else_=0)

    return [
        Tally("recency", eligible, last_n),
        Tally("running", lambda m: eligible(m) * message_tokens(m), budget),
    ]


async def context_window(ctx: Context, request: WindowRequest) -> Window:
    if request.last_n is not None and request.last_n < 0:
        raise BadInput("`lastN` cannot be negative")
    if request.token_budget is not None and request.token_budget < 0:
        raise BadInput("`tokenBudget` cannot be negative")
    conversation = await ctx.loaders.by_id(Conversation).load(request.conversation_id)
    if conversation is None:
        global_id = to_global_id("Conversation", request.conversation_id)
        raise NotFound(f"Conversation '{global_id}' does not exist")
    if request.leaf_id is not None:
        await reads.require_message_in(ctx, request.leaf_id, request.conversation_id)
    system_prompt = conversation.system_prompt if request.include_system else None
    preamble = sum(
        estimate_tokens(text)
        for text in (system_prompt, conversation.summary, *conversation.pinned_facts)
    )
    # Without either limit the window is still bounded: by the largest page.
    last_n = request.last_n
    if last_n is None and request.token_budget is None:
        last_n = ctx.settings.max_page_size
    budget = None if request.token_budget is None else max(request.token_budget - preamble, 0)
    kept, truncated = await _walked(ctx, request, _tallies(request, last_n, budget))
    return Window(
        conversation=conversation,
        system_prompt=system_prompt,
        pinned_facts=list(conversation.pinned_facts),
        messages=[row[0] for row in kept],
        token_count=preamble + sum(row[1] for row in kept),
        truncated=truncated,
    )


async def _walked(
    ctx: Context, request: WindowRequest, tallies: list[Tally]
) -> tuple[list[Any], bool]:
    """The window's (message, tokens) rows, oldest first, and whether a limit left older
    messages out: the walk's eligible messages are the window, then at most one more."""
    walked = walk([request.conversation_id], request.leaf_id, tallies)
    rows = await ctx.loaders.fetch(
        select(Message, message_tokens(Message), *(walked.c[t.name] for t in tallies))
        .join(walked, walked.c.id == col(Message.id))
        .where(_eligible(request, Message))
        .order_by(col(Message.seq))
    )
    kept = [row for row in rows if _within(row[2:], tallies)]
    return kept, len(kept) < len(rows)


def _within(sums: Any, tallies: list[Tally]) -> bool:
    return all(t.limit is None or found <= t.limit for found, t in zip(sums, tallies, strict=True))
