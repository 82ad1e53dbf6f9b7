"""The context window: the slice of one branch an agent sends to its model.

Chosen in SQL by walking the branch from its leaf (resolvers/branches.py), counting the
eligible messages and summing their tokens from the newest back: "the last N" and "what
fits the budget" are where the walk stops, one message past the window (which tells
whether older messages were left out), so the window costs its own size, not the
conversation's. The same inputs always pick the same rows.

On top of the limits (resolvers/context_selection.py): the latest user prompt is always in,
cut to the budget when it alone exceeds it, and a tool result is never without its call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, not_, select, true
from sqlmodel import col

from config import Settings
from models import Conversation, Message, ToolCall
from models.enums import MessageRole
from resolvers import reads
from resolvers.branches import Tally, walk
from resolvers.context import Context
from resolvers.context_selection import CHARS_PER_TOKEN, Sized, Walked, estimate_tokens, selected
from resolvers.errors import BadInput, NotFound
from resolvers.ids import to_global_id


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
    # Whether the limits left out messages the window would hold, or cut the prompt.
    truncated: bool
    # The branch's messages not in the window, counted without walking the whole branch
    # (an upper bound when the conversation branched before the window).
    dropped_count: int
    # The latest user prompt when it alone exceeded the budget, and the text kept of it.
    cut_message_id: uuid.UUID | None
    cut_content: str | None


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


def _counted(request: WindowRequest, message: Any) -> ColumnElement[int]:
    return case((_eligible(request, message), 1), else_=0)


def _tallies(request: WindowRequest, last_n: int | None, budget: int | None) -> list[Tally]:
    """The eligible messages counted from the newest (up to `last_n`), and their tokens
    summed (up to `budget`)."""
    return [
        Tally("recency", lambda m: _counted(request, m), last_n),
        Tally("running", lambda m: _counted(request, m) * message_tokens(m), budget),
    ]


def _limits(settings: Settings, request: WindowRequest) -> tuple[int | None, int | None]:
    """The caller's limits; with neither, the defaults: the last CONTEXT_WINDOW_LAST_N
    messages within CONTEXT_WINDOW_TOKEN_BUDGET tokens."""
    if request.last_n is None and request.token_budget is None:
        return settings.context_window_last_n, settings.context_window_token_budget
    return request.last_n, request.token_budget


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
    last_n, token_budget = _limits(ctx.settings, request)
    budget = None if token_budget is None else max(token_budget - preamble, 0)
    walked = await _walked(ctx, request, _tallies(request, last_n, budget))
    prompt, beyond = await _latest_prompt(ctx, request, walked)
    chosen = selected(walked, prompt, last_n, budget)
    return Window(
        conversation=conversation,
        system_prompt=system_prompt,
        pinned_facts=list(conversation.pinned_facts),
        messages=[row.message for row in chosen.rows],
        token_count=preamble + chosen.tokens,
        truncated=chosen.truncated,
        dropped_count=_branch_length(walked, prompt, beyond) - len(chosen.rows),
        cut_message_id=None if chosen.cut_content is None else chosen.rows[0].message.id,
        cut_content=chosen.cut_content,
    )


async def _walked(ctx: Context, request: WindowRequest, tallies: list[Tally]) -> list[Walked]:
    """Every message the walk passed, oldest first: the window's eligible messages, then
    at most one more eligible message, and the ineligible ones among them."""
    walked = walk([request.conversation_id], request.leaf_id, tallies)
    rows = await ctx.loaders.fetch(
        select(
            Message,
            message_tokens(Message),
            _counted(request, Message),
            *(walked.c[t.name] for t in tallies),
        )
        .join(walked, walked.c.id == col(Message.id))
        .order_by(col(Message.seq))
    )
    return [Walked(row[0], row[1], bool(row[2]), row[3], row[4]) for row in rows]


async def _latest_prompt(
    ctx: Context, request: WindowRequest, walked: list[Walked]
) -> tuple[Sized | None, int]:
    """The branch's newest eligible USER message, and how many messages past the walk's
    oldest it took to reach it: one the walk passed (0), else the first of at most
    MAX_PAGE_SIZE messages past them (a walk that stops at the first prompt, so a
    conversation without one is not walked to its root)."""
    passed = [w for w in walked if w.eligible and w.message.role == MessageRole.USER]
    if passed:
        return passed[-1], 0
    if not walked or walked[0].message.parent_message_id is None:
        return None, 0

    def is_prompt(message: Any) -> ColumnElement[int]:
        prompt = and_(col(message.role) == MessageRole.USER, _eligible(request, message))
        return case((prompt, 1), else_=0)

    tallies = [
        Tally("prompts", is_prompt, 0),
        Tally("steps", lambda m: literal(1), ctx.settings.max_page_size),
    ]
    beyond = walk([request.conversation_id], walked[0].message.parent_message_id, tallies)
    rows = await ctx.loaders.fetch(
        select(Message, message_tokens(Message), beyond.c.steps)
        .join(beyond, beyond.c.id == col(Message.id))
        .where(beyond.c.prompts == 1)
    )
    return (Sized(rows[0][0], rows[0][1]), rows[0][2]) if rows else (None, 0)


def _branch_length(walked: list[Walked], prompt: Sized | None, beyond: int) -> int:
    """The messages from the leaf to the oldest one read (the prompt when it was looked
    for past the walk), and those older than that, from its sequence number: exact
    unless messages older than it are on other branches or were deleted (then an upper
    bound)."""
    if not walked:
        return 0
    oldest, reached = walked[0].message, len(walked)
    if prompt is not None and beyond:
        oldest, reached = prompt.message, reached + beyond
    return reached + (0 if oldest.parent_message_id is None else oldest.seq - 1)
