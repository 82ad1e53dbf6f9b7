"""Conversation and Participant types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

import models
from models.enums import ConversationKind, ConversationStatus, ParticipantRole, ParticipantType
from resolvers import branches, reads
from resolvers.analytics.conversations import conversation_metrics
from resolvers.analytics.models_used import models_used
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.pagination import PageArgs
from resolvers.relations import (
    AGENT_SESSIONS_OF_CONVERSATION,
    MESSAGES_OF_CONVERSATION,
    MESSAGES_OF_CONVERSATION_NEWEST_FIRST,
    OPEN_AGENT_SESSION_OF_CONVERSATION,
    PARTICIPANTS_OF_CONVERSATION,
    PLANS_OF_CONVERSATION,
    TRACES_OF_CONVERSATION,
)
from resolvers.scores import SCORES_OF_CONVERSATION
from resolvers.writes.totals import Usage
from schema.agent import AgentSession
from schema.enums import OrderDirection
from schema.inputs import MessageOrder
from schema.metrics import ConversationMetrics, ModelUsage
from schema.node import Node, from_row, maybe_from_row, related, required
from schema.pagination import Connection, PageArguments, nested_connection
from schema.scalars import JSONValue, Long
from schema.score import Score, scores_field
from subscriptions.streams import encode_cursor

if TYPE_CHECKING:
    from schema.message import Message
    from schema.plan import Plan
    from schema.trace import Trace

MessageT = Annotated["Message", strawberry.lazy("schema.message")]
TOTALS = (
    "Every model call in the conversation counted once: its spans' usage and that of "
    "messages no span produced (equal to `usage(filter: {conversationIds: [id]})`)."
)
PlanT = Annotated["Plan", strawberry.lazy("schema.plan")]
TraceT = Annotated["Trace", strawberry.lazy("schema.trace")]


@strawberry.type
class Conversation(Node):
    id: strawberry.ID
    kind: ConversationKind
    status: ConversationStatus
    title: str | None
    summary: str | None
    pinned_facts: list[str] = strawberry.field(
        description="Facts sent ahead of the history (contextWindow); see setConversationMemory."
    )
    tags: list[str]
    metadata: JSONValue
    owner_id: str
    model_name: str | None
    system_prompt: str | None
    temperature: float | None
    max_tokens: int | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    message_count: Long = strawberry.field(description="Messages on every branch.")
    input_tokens: Long = strawberry.field(description=TOTALS)
    output_tokens: Long = strawberry.field(description=TOTALS)
    total_tokens: Long = strawberry.field(description=TOTALS)
    cost: float = strawberry.field(description=TOTALS + " USD.")
    scores: list[Score] = scores_field(
        SCORES_OF_CONVERSATION, "conversation itself (not of what is in it)"
    )
    row: strawberry.Private[models.Conversation]

    @strawberry.field(
        description="The cursor of the latest event: pass it as `after` to "
        "conversationEvents to continue exactly from what this query read."
    )
    def last_event_cursor(self) -> str:
        return encode_cursor(self.row.id, self.row.last_event_seq)

    @strawberry.field
    async def participants(
        self, info: Info[Context, None], active_only: bool = False
    ) -> list[Participant]:
        rows = await info.context.loaders.rows_by(PARTICIPANTS_OF_CONVERSATION).load(self.row.id)
        return [from_row(Participant, r) for r in rows if r.active or not active_only]

    @strawberry.field(
        description="One branch, root first: the path to `branch` (a leaf message), by default "
        "to the latest message. With `allBranches`, every message in sequence order. "
        "`orderBy: {direction: DESC}` lists either newest first.",
        extensions=[PageArguments()],
    )
    async def messages(
        self,
        info: Info[Context, None],
        branch: strawberry.ID | None = None,
        all_branches: bool = False,
        order_by: MessageOrder | None = None,
        page: PageArgs = PageArgs(),
    ) -> Connection[MessageT]:
        from schema.message import Message

        newest_first = order_by is not None and order_by.direction == OrderDirection.DESC
        if all_branches:
            relation = (
                MESSAGES_OF_CONVERSATION_NEWEST_FIRST if newest_first else MESSAGES_OF_CONVERSATION
            )
            return await nested_connection(info, relation, self.row.id, page, Message.of)
        ctx = info.context
        leaf_id = parse_id(branch, "Message") if branch is not None else None
        if leaf_id is not None:
            await reads.require_message_in(ctx, leaf_id, self.row.id)
        request = ctx.page_request(page)
        key = (self.row.id, leaf_id, request, newest_first)
        found = await branches.branch_pages(ctx).load(key)
        return Connection.of(
            found, Message.of, lambda: branches.branch_counts(ctx).load((self.row.id, leaf_id))
        )

    @strawberry.field(description="The most recent message, on any branch.")
    async def last_message(self, info: Info[Context, None]) -> MessageT | None:
        from schema.message import Message

        row = await reads.latest_messages(info.context).load(self.row.id)
        return maybe_from_row(Message, row)

    @strawberry.field(extensions=[PageArguments()])
    async def plans(
        self,
        info: Info[Context, None],
        page: PageArgs = PageArgs(),
    ) -> Connection[PlanT]:
        from schema.plan import Plan

        return await nested_connection(info, PLANS_OF_CONVERSATION, self.row.id, page, Plan.of)

    @strawberry.field(extensions=[PageArguments()])
    async def traces(
        self,
        info: Info[Context, None],
        page: PageArgs = PageArgs(),
    ) -> Connection[TraceT]:
        from schema.trace import Trace

        return await nested_connection(info, TRACES_OF_CONVERSATION, self.row.id, page, Trace.of)

    @strawberry.field(description="The session running now (ACTIVE or AWAITING_USER), if any.")
    async def agent_session(self, info: Info[Context, None]) -> AgentSession | None:
        loader = info.context.loaders.rows_by(OPEN_AGENT_SESSION_OF_CONVERSATION)
        rows = await loader.load(self.row.id)
        return maybe_from_row(AgentSession, rows[0] if rows else None)

    @strawberry.field(description="Every agent session, newest first.")
    async def agent_sessions(self, info: Info[Context, None]) -> list[AgentSession]:
        rows = await info.context.loaders.rows_by(AGENT_SESSIONS_OF_CONVERSATION).load(self.row.id)
        return [from_row(AgentSession, r) for r in rows]

    @strawberry.field(description="When it was archived (null unless ARCHIVED).")
    def archived_at(self) -> datetime | None:
        return self.row.archived_at

    @strawberry.field(
        description="The conversation this one was forked from (forkConversation); null if "
        "none, or if that one was deleted or is not yours to see."
    )
    async def forked_from(self, info: Info[Context, None]) -> Conversation | None:
        return await related(info, Conversation, self.row.forked_from_conversation_id)

    @strawberry.field(description="The message of the source the fork's branch ended at.")
    async def forked_from_message(self, info: Info[Context, None]) -> MessageT | None:
        from schema.message import Message

        return await related(info, Message, self.row.forked_from_message_id)

    @strawberry.field(
        description="The conversation this one serves (createConversation's "
        "`parentConversationId`); null if none, or if that one was deleted or is not yours "
        "to see."
    )
    async def parent_conversation(self, info: Info[Context, None]) -> Conversation | None:
        return await related(info, Conversation, self.row.parent_conversation_id)

    @strawberry.field(
        description="The conversations serving this one (whose `parentConversation` it is) "
        "that you may see, oldest first.",
        extensions=[PageArguments()],
    )
    async def child_conversations(
        self, info: Info[Context, None], page: PageArgs = PageArgs()
    ) -> Connection[Conversation]:
        return await nested_connection(
            info, reads.CHILDREN_OF_CONVERSATION, self.row.id, page, Conversation.of
        )

    @strawberry.field(description="Turns, messages, tokens, latency, tools, plans, waits.")
    async def metrics(self, info: Info[Context, None]) -> ConversationMetrics:
        figures = await conversation_metrics(info.context).load(self.row.id)
        return ConversationMetrics.of(figures, Usage.of(self.row))

    @strawberry.field(
        description="The models its calls used (spans, and messages no span produced), "
        "largest cost first; calls that name no model (tool spans, say) are not listed."
    )
    async def models_used(self, info: Info[Context, None]) -> list[ModelUsage]:
        found = await models_used(info.context).load(self.row.id)
        return [ModelUsage.of(used) for used in found]

    @classmethod
    def of(cls, row: models.Conversation) -> Conversation:
        return from_row(cls, row)


@strawberry.type
class Participant(Node):
    id: strawberry.ID
    participant_id: str
    participant_type: ParticipantType
    role: ParticipantRole
    active: bool
    joined_at: datetime
    left_at: datetime | None
    row: strawberry.Private[models.Participant]

    @strawberry.field
    async def conversation(self, info: Info[Context, None]) -> Conversation:
        return await required(info, Conversation, self.row.conversation_id)
