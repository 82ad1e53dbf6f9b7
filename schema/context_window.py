"""The context window an agent sends to its model, and the conversation memory in it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from resolvers import context_window
from resolvers.context import Context
from resolvers.ids import parse_id, to_global_id
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
    "pinned facts, then the messages (oldest first, newest last). The latest user prompt "
    "(the branch's newest USER message) is always among them; a TOOL message always "
    "follows the message whose call it answers (results whose call is older than the "
    "window are left out with it)."
)
class ContextWindow:
    system_prompt: str | None = strawberry.field(description="Null unless includeSystem.")
    summary: str | None
    pinned_facts: list[str]
    messages: list[MessageT]
    token_count: Long = strawberry.field(
        description="Tokens the window uses: a message's stored outputTokens, else an "
        "estimate of ceil(characters / 4), as for the system prompt, summary and facts; a "
        "cut prompt counts its truncatedContent. Within tokenBudget unless the preamble "
        "alone exceeds it."
    )
    truncated: bool = strawberry.field(
        description="Whether the limits left out messages of the branch the window would "
        "hold (older ones, or those between the latest user prompt and the newest that fit "
        "beside it), or cut the prompt (truncatedMessageId)."
    )
    dropped_count: int = strawberry.field(
        description="Messages of the branch not in the window, for any reason: left out by "
        "the limits, tool traffic or SYSTEM messages left out by includeTools or "
        "includeSystem. Counted from sequence numbers, without walking the branch past the "
        "window: exact unless messages older than the window are on other branches or were "
        "deleted, when it is an upper bound."
    )
    truncated_message_id: strawberry.ID | None = strawberry.field(
        description="The latest user prompt when it alone exceeded the budget: it is then "
        "the only message, and truncatedContent is what to send in place of its content. "
        "Null otherwise."
    )
    truncated_content: str | None = strawberry.field(
        description="The end of that prompt that fits the budget: its last "
        "(tokenBudget - preamble) x 4 characters, as a long prompt usually asks its question "
        "last. Null unless truncatedMessageId."
    )
    conversation: ConversationT


@strawberry.type
class ContextQueries:
    @strawberry.field(
        description="The messages of one branch (by default the latest) for a model: the "
        "last `lastN` and/or the newest that fit `tokenBudget` (after the preamble). Without "
        "either limit, the last 10 within 4,000 tokens (the server's CONTEXT_WINDOW_LAST_N "
        "and CONTEXT_WINDOW_TOKEN_BUDGET). The latest user prompt is always in: when the "
        "limits would leave it out it takes the oldest place, the newest messages that fit "
        "beside it after it (lastN: 0 still holds it), and when it alone exceeds the budget "
        "it is cut (truncatedMessageId); it is looked for up to MAX_PAGE_SIZE messages "
        "before the window. "
        "Tool calls and results only with `includeTools`; SYSTEM messages and the system "
        "prompt unless `includeSystem` is false."
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
        info.context.counters.context_window(window.truncated)
        return ContextWindow(
            system_prompt=window.system_prompt,
            summary=window.conversation.summary,
            pinned_facts=window.pinned_facts,
            messages=from_rows(Message, window.messages),
            token_count=window.token_count,
            truncated=window.truncated,
            dropped_count=window.dropped_count,
            truncated_message_id=None
            if window.cut_message_id is None
            else strawberry.ID(to_global_id("Message", window.cut_message_id)),
            truncated_content=window.cut_content,
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
