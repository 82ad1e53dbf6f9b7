"""The context window: the slice of one branch an agent sends to its model.

Chosen in SQL: the branch's messages numbered from the newest, with a running sum
of their tokens from the newest back, so "the last N" and "what fits the budget"
are two conditions on one query, and the same inputs always pick the same rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, exists, func, not_, select
from sqlmodel import col

from models import Conversation, Message, ToolCall
from models.enums import MessageRole
from resolvers import reads
from resolvers.context import Context
from resolvers.errors import BadInput, NotFound
from resolvers.ids import to_global_id

# Characters per token of the estimate used where a message stores no token count.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str | None) -> int:
    """ceil(characters / 4): the same arithmetic as the SQL below."""
    return (len(text or "") + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


# A message's own size: its stored output token count (what its text took to
# generate), else the estimate. Its input tokens are the whole prompt it answered,
# not its own size, so they are not used.
MESSAGE_TOKENS = case(
    (col(Message.output_tokens) > 0, col(Message.output_tokens)),
    # Floor division (`//`): `/` would be true division, then rounded by PostgreSQL's cast.
    else_=(func.length(col(Message.content)) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN,
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


def _eligible(request: WindowRequest) -> list[ColumnElement[bool]]:
    leaves = reads.leaves_for([request.conversation_id], request.leaf_id)
    found: list[ColumnElement[bool]] = [
        col(Message.conversation_id) == request.conversation_id,
        col(Message.id).in_(reads.branch_ids(leaves)),
    ]
    if not request.include_system:
        found.append(col(Message.role) != MessageRole.SYSTEM)
    if not request.include_tools:
        # Tool results, and calls that say nothing but the call.
        has_calls = exists().where(col(ToolCall.message_id) == col(Message.id))
        found.append(col(Message.role) != MessageRole.TOOL)
        found.append(not_(and_(has_calls, func.trim(col(Message.content)) == "")))
    return found


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
    newest_first = col(Message.seq).desc()
    ranked = (
        select(
            col(Message.id).label("id"),
            MESSAGE_TOKENS.label("tokens"),
            func.row_number().over(order_by=newest_first).label("recency"),
            func.sum(MESSAGE_TOKENS).over(order_by=newest_first, rows=(None, 0)).label("running"),
            func.count().over().label("eligible"),
        )
        .where(*_eligible(request))
        .subquery("ranked")
    )
    kept = []
    if last_n is not None:
        kept.append(ranked.c.recency <= last_n)
    if request.token_budget is not None:
        kept.append(ranked.c.running <= max(request.token_budget - preamble, 0))
    rows = await ctx.loaders.fetch(
        select(Message, ranked.c.tokens, ranked.c.eligible)
        .join(ranked, ranked.c.id == col(Message.id))
        .where(*kept)
        .order_by(col(Message.seq))
    )
    eligible = await _eligible_count(ctx, request) if not rows else rows[0][2]
    return Window(
        conversation=conversation,
        system_prompt=system_prompt,
        pinned_facts=list(conversation.pinned_facts),
        messages=[row[0] for row in rows],
        token_count=preamble + sum(row[1] for row in rows),
        truncated=len(rows) < eligible,
    )


async def _eligible_count(ctx: Context, request: WindowRequest) -> int:
    """How many messages could have been in a window that kept none."""
    found = await ctx.loaders.fetch(
        select(func.count()).select_from(Message).where(*_eligible(request))
    )
    return int(found[0][0])
