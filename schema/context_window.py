"""The context window an agent sends to its model, and the conversation memory in it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from resolvers import context_window
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.writes import memory
from resolvers.writes.commands import SetMemory
from schema.commands import kept
from schema.node import from_row, from_rows
from schema.scalars import Long

if TYPE_CHECKING:
    from schema.conversation import Conversation
    from schema.message import Message

ConversationT = Annotated["Conversation", strawberry.lazy("schema.conversation")]
MessageT = Annotated["Message", strawberry.lazy("schema.message")]


@strawberry.type(
    description="What to send to a model, in order: the system prompt, the summary, the "
    "pinned facts, then the messages (oldest first, newest last)."
)
class ContextWindow:
    system_prompt: str | None = strawberry.field(description="Null unless includeSystem.")
    summary: str | None
    pinned_facts: list[str]
    messages: list[MessageT]
    token_count: Long = strawberry.field(
        description="Tokens of all the above: a message's stored outputTokens, else an "
        "estimate of ceil(characters / 4), as for the system prompt, summary and facts."
    )
    truncated: bool = strawberry.field(
        description="Whether older messages of the branch were left out."
    )
    conversation: ConversationT


@strawberry.type
class ContextQueries:
    @strawberry.field(
        description="The messages of one branch (by default the latest) for a model: the "
        "last `lastN` and/or the newest that fit `tokenBudget` (after the preamble). Tool "
        "calls and results only with `includeTools`; SYSTEM messages and the system prompt "
        "unless `includeSystem` is false. Without either limit, at most MAX_PAGE_SIZE."
    )
    async def context_window(
        self,
        info: Info[Context, None],
        conversation_id: strawberry.ID,
        branch_leaf_id: strawberry.ID | None = None,
        last_n: int | None = None,
        token_budget: int | None = None,
        include_tools: bool = False,
        include_system: bool = True,
    ) -> ContextWindow:
        from schema.conversation import Conversation
        from schema.message import Message

        request = context_window.WindowRequest(
            conversation_id=parse_id(conversation_id, "Conversation"),
            leaf_id=parse_id(branch_leaf_id, "Message") if branch_leaf_id else None,
            last_n=last_n,
            token_budget=token_budget,
            include_tools=include_tools,
            include_system=include_system,
        )
        window = await context_window.context_window(info.context, request)
        return ContextWindow(
            system_prompt=window.system_prompt,
            summary=window.conversation.summary,
            pinned_facts=window.pinned_facts,
            messages=from_rows(Message, window.messages),
            token_count=window.token_count,
            truncated=window.truncated,
            conversation=from_row(Conversation, window.conversation),
        )


@strawberry.type
class MemoryMutations:
    @strawberry.mutation(
        description="Set the summary and/or the pinned facts a context window starts with "
        "(fields left out are kept; the facts are replaced as a whole)."
    )
    async def set_conversation_memory(
        self,
        info: Info[Context, None],
        conversation_id: strawberry.ID,
        summary: str | None = strawberry.UNSET,
        pinned_facts: list[str] | None = strawberry.UNSET,
    ) -> ConversationT:
        from schema.conversation import Conversation

        changes = SetMemory(summary=kept(summary), pinned_facts=kept(pinned_facts))
        row = await memory.set_memory(
            info.context, parse_id(conversation_id, "Conversation"), changes
        )
        return from_row(Conversation, row)
