"""Root queries."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from strawberry.types import Info

import models
from models.enums import TraceStatus
from resolvers import reads, validation
from resolvers.context import Context
from resolvers.errors import BadInput, NotFound
from resolvers.ids import from_global_id, parse_id
from resolvers.pagination import PageArgs
from resolvers.writes import chat_settings
from schema.agent import AgentSession
from schema.agent_queries import AgentQueries
from schema.analytics import AnalyticsQueries
from schema.auth import Agent, ApiKey, Viewer
from schema.component import Component, ComponentVersion
from schema.context_window import ContextQueries
from schema.conversation import Conversation, Participant
from schema.enums import OrderDirection
from schema.inputs import ComponentFilter, ConversationFilter, ConversationOrder, TraceFilter
from schema.lifecycle import LifecycleQueries
from schema.message import Message, ToolCall
from schema.node import Node, from_rows, maybe_from_row, related
from schema.pagination import Connection, PageArguments
from schema.plan import Plan, PlanStep
from schema.pricing import PricingQueries
from schema.score import Score, ScoreQueries
from schema.search import SearchQueries
from schema.settings import ChatSettings
from schema.span_filters import SpanQueries
from schema.tool_calls import ToolCallQueries
from schema.trace import Span, Trace

# Every Node type, by the name inside its global id, with the table it is read from.
NODE_TYPES: dict[str, tuple[type[Any], Any]] = {
    cls.__name__: (cls, getattr(models, cls.__name__))
    for cls in (
        Conversation,
        Participant,
        Message,
        ToolCall,
        Plan,
        PlanStep,
        Trace,
        Span,
        Component,
        ComponentVersion,
        AgentSession,
        ApiKey,
        Score,
    )
}


async def load_node(info: Info[Context, None], global_id: str) -> Node | None:
    """The object behind a global id, None if it does not exist (Relay's contract)."""
    type_name, raw_id = from_global_id(global_id)
    if type_name not in NODE_TYPES:
        raise NotFound(f"'{global_id}' is not the id of any kind of object")
    cls, model = NODE_TYPES[type_name]
    row = await info.context.loaders.by_id(model).load(raw_id)
    return maybe_from_row(cls, row)


async def load_one(info: Info[Context, None], global_id: str, cls: type[Any]) -> Any:
    return await related(info, cls, parse_id(global_id, cls.__name__))


def conversation_query(filter: ConversationFilter | None, order: ConversationOrder | None) -> Any:
    """The list's filter and order as resolvers.reads takes them, with the list's defaults:
    every reader of a ConversationFilter (the list, its compiled path, its live feed)."""
    f = filter or ConversationFilter()
    o = order or ConversationOrder()
    if f.participant_type is not None and f.participant_id is None:
        raise BadInput("`participantType` needs a `participantId`: it says which one is meant")
    return reads.ConversationQuery(
        kinds=f.kinds,
        statuses=f.statuses or reads.LISTED_BY_DEFAULT,
        owner_id=f.owner_id,
        participant_id=f.participant_id,
        participant_type=f.participant_type,
        tag=f.tag,
        title_contains=f.title_contains,
        created_after=f.created_after,
        created_before=f.created_before,
        active_after=f.active_after,
        active_before=f.active_before,
        order_field=o.field.value,
        descending=o.direction == OrderDirection.DESC,
    )


def trace_query(filter: TraceFilter | None) -> reads.TraceQuery:
    f = filter or TraceFilter()
    return reads.TraceQuery(
        conversation_id=parse_id(f.conversation_id, "Conversation") if f.conversation_id else None,
        statuses=[TraceStatus(s) for s in f.statuses] if f.statuses else None,
        user_id=f.user_id,
        session_id=f.session_id,
        started_after=f.started_after,
        started_before=f.started_before,
    )


@strawberry.type
class Query(
    AgentQueries,
    ScoreQueries,
    ContextQueries,
    SearchQueries,
    AnalyticsQueries,
    LifecycleQueries,
    SpanQueries,
    ToolCallQueries,
    PricingQueries,
):
    @strawberry.field(description="Who this request is authenticated as.")
    def viewer(self, info: Info[Context, None]) -> Viewer:
        return Viewer.of(info.context.principal)

    @strawberry.field(description="The agents you registered, by id.")
    async def agents(self, info: Info[Context, None]) -> list[Agent]:
        return [Agent.of(row) for row in await reads.agents(info.context)]

    @strawberry.field(description="Your API keys, newest first; revoked ones when asked for.")
    async def api_keys(
        self, info: Info[Context, None], include_revoked: bool = False
    ) -> list[ApiKey]:
        return from_rows(ApiKey, await reads.api_keys(info.context, include_revoked))

    @strawberry.field(description="Fetch any object by its global id; null if it does not exist.")
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        return await load_node(info, id)

    @strawberry.field(
        description="Fetch many objects by global id, in the order given: at most as many ids "
        "as a page may hold (MAX_PAGE_SIZE, 500 by default)."
    )
    async def nodes(self, info: Info[Context, None], ids: list[strawberry.ID]) -> list[Node | None]:
        # One load per id: a bound like a page's keeps a single request's work bounded.
        limit = info.context.settings.max_page_size
        if len(ids) > limit:
            raise BadInput(f"`ids` lists {len(ids)} ids; at most {limit} at once")
        return list(await asyncio.gather(*(load_node(info, i) for i in ids)))

    @strawberry.field
    async def conversation(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> Conversation | None:
        return await load_one(info, id, Conversation)

    @strawberry.field(
        description="Most recently active first, unless `orderBy` says otherwise. ARCHIVED "
        "and CLOSED conversations only when `filter.statuses` names them.",
        extensions=[PageArguments()],
    )
    async def conversations(
        self,
        info: Info[Context, None],
        filter: ConversationFilter | None = None,
        order_by: ConversationOrder | None = None,
        page: PageArgs = PageArgs(),
    ) -> Connection[Conversation]:
        ctx = info.context
        request = ctx.page_request(page)
        found = await reads.conversations(ctx, conversation_query(filter, order_by), request)
        return Connection.of(found.page, Conversation.of, found.count)

    @strawberry.field
    async def message(self, info: Info[Context, None], id: strawberry.ID) -> Message | None:
        return await load_one(info, id, Message)

    @strawberry.field
    async def plan(self, info: Info[Context, None], id: strawberry.ID) -> Plan | None:
        return await load_one(info, id, Plan)

    @strawberry.field
    async def trace(self, info: Info[Context, None], id: strawberry.ID) -> Trace | None:
        return await load_one(info, id, Trace)

    @strawberry.field(description="Most recent first.", extensions=[PageArguments()])
    async def traces(
        self,
        info: Info[Context, None],
        filter: TraceFilter | None = None,
        page: PageArgs = PageArgs(),
    ) -> Connection[Trace]:
        ctx = info.context
        request = ctx.page_request(page)
        found = await reads.traces(ctx, trace_query(filter), request)
        return Connection.of(found.page, Trace.of, found.count)

    @strawberry.field
    async def span(self, info: Info[Context, None], id: strawberry.ID) -> Span | None:
        return await load_one(info, id, Span)

    @strawberry.field(description="By key.", extensions=[PageArguments()])
    async def components(
        self,
        info: Info[Context, None],
        filter: ComponentFilter | None = None,
        page: PageArgs = PageArgs(),
    ) -> Connection[Component]:
        ctx = info.context
        f = filter or ComponentFilter()
        request = ctx.page_request(page)
        found = await reads.components(ctx, f.types, f.key_contains, request)
        return Connection.of(found.page, Component.of, found.count)

    @strawberry.field(description="A component by its global id or by its key.")
    async def component(
        self, info: Info[Context, None], id: strawberry.ID | None = None, key: str | None = None
    ) -> Component | None:
        validation.exactly_one(id=id, key=key)
        if id is not None:
            return await load_one(info, id, Component)
        return maybe_from_row(Component, await reads.component_by_key(info.context, key or ""))

    @strawberry.field(
        description="One version of a component, by its content hash or by its label "
        "(`name`, its versionName); the component by id or key."
    )
    async def component_version(
        self,
        info: Info[Context, None],
        component_id: strawberry.ID | None = None,
        component_key: str | None = None,
        hash: str | None = None,
        name: str | None = None,
    ) -> ComponentVersion | None:
        validation.exactly_one(componentId=component_id, componentKey=component_key)
        validation.exactly_one(hash=hash, name=name)
        row = await reads.component_version(
            info.context,
            content_hash=hash,
            version_name=name,
            component_id=None if component_id is None else parse_id(component_id, "Component"),
            component_key=component_key,
        )
        return maybe_from_row(ComponentVersion, row)

    @strawberry.field(
        description="Your saved settings (`userId` defaults to you), or the defaults if none."
    )
    async def chat_settings(
        self, info: Info[Context, None], user_id: str | None = None
    ) -> ChatSettings:
        user_id = info.context.principal.user_id if user_id is None else user_id
        return ChatSettings.of(await chat_settings.read(info.context, user_id))
