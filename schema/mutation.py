"""Root mutations: each is one transaction and returns what it changed."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.enums import ConversationStatus, ParticipantRole, PlanStatus
from resolvers.context import Context
from resolvers.ids import parse_id
from resolvers.writes import (
    agent_identities,
    agent_stream,
    agents,
    api_keys,
    chat_settings,
    components,
    conversations,
    messages,
    plans,
    traces,
)
from schema.agent import AgentSession
from schema.agent_inputs import (
    AnswerAgentInput,
    AppendAnswerChunkInput,
    AskUserInput,
    CompleteRunInput,
    FailRunInput,
    ReportThoughtInput,
    ReportToolEndInput,
    ReportToolStartInput,
    StartAgentSessionInput,
)
from schema.auth import Agent, ApiKey, CreateApiKeyInput, CreatedApiKey
from schema.component import ComponentVersion
from schema.context_window import MemoryMutations
from schema.conversation import Conversation, Participant
from schema.ingest import IngestMutations
from schema.inputs import (
    ChatSettingsInput,
    CreateConversationInput,
    CreatePlanInput,
    EditMessageInput,
    EndSpanInput,
    EndTraceInput,
    ParticipantInput,
    RegisterComponentVersionInput,
    SendMessageInput,
    StartSpanInput,
    StartTraceInput,
    UpdateConversationInput,
    UpdateStepStatusInput,
)
from schema.lifecycle import LifecycleMutations
from schema.message import Message, ToolCall
from schema.node import from_row, maybe_from_row
from schema.plan import Plan, PlanStep
from schema.query import from_settings
from schema.score_mutations import ScoreMutations
from schema.settings import ChatSettings
from schema.trace import Span, Trace

Ctx = Info[Context, None]


async def _set_status(info: Ctx, id: strawberry.ID, status: ConversationStatus) -> Conversation:
    row = await conversations.set_status(info.context, parse_id(id, "Conversation"), status)
    return from_row(Conversation, row)


@strawberry.type
class Mutation(ScoreMutations, MemoryMutations, LifecycleMutations, IngestMutations):
    @strawberry.mutation(description="The owner and the first counterparts become participants.")
    async def create_conversation(self, info: Ctx, input: CreateConversationInput) -> Conversation:
        return from_row(Conversation, await conversations.create_conversation(info.context, input))

    @strawberry.mutation(description="Title, summary, tags, metadata and model settings.")
    async def update_conversation(
        self, info: Ctx, id: strawberry.ID, input: UpdateConversationInput
    ) -> Conversation:
        row = await conversations.update_conversation(
            info.context, parse_id(id, "Conversation"), input
        )
        return from_row(Conversation, row)

    @strawberry.mutation(description="Hide an ACTIVE conversation from default lists.")
    async def archive_conversation(self, info: Ctx, id: strawberry.ID) -> Conversation:
        return await _set_status(info, id, ConversationStatus.ARCHIVED)

    @strawberry.mutation(description="Bring an ARCHIVED conversation back to ACTIVE.")
    async def restore_conversation(self, info: Ctx, id: strawberry.ID) -> Conversation:
        return await _set_status(info, id, ConversationStatus.ACTIVE)

    @strawberry.mutation(description="Final: a CLOSED conversation is read-only.")
    async def close_conversation(self, info: Ctx, id: strawberry.ID) -> Conversation:
        return await _set_status(info, id, ConversationStatus.CLOSED)

    @strawberry.mutation(
        description="A third active participant makes the conversation MULTI_PARTY."
    )
    async def add_participant(
        self, info: Ctx, conversation_id: strawberry.ID, participant: ParticipantInput
    ) -> Participant:
        row = await conversations.add_participant(
            info.context, parse_id(conversation_id, "Conversation"), participant
        )
        return from_row(Participant, row)

    @strawberry.mutation(
        description="Promote or demote a participant (MEMBER or OBSERVER); the owner's only."
    )
    async def set_participant_role(
        self, info: Ctx, conversation_id: strawberry.ID, participant_id: str, role: ParticipantRole
    ) -> Participant:
        row = await conversations.set_participant_role(
            info.context, parse_id(conversation_id, "Conversation"), participant_id, role
        )
        return from_row(Participant, row)

    @strawberry.mutation(
        description="Marks the participant inactive; history is kept. The owner removes "
        "others; anyone may remove themselves."
    )
    async def remove_participant(
        self, info: Ctx, conversation_id: strawberry.ID, participant_id: str
    ) -> Participant:
        row = await conversations.remove_participant(
            info.context, parse_id(conversation_id, "Conversation"), participant_id
        )
        return from_row(Participant, row)

    @strawberry.mutation
    async def send_message(self, info: Ctx, input: SendMessageInput) -> Message:
        return from_row(Message, await messages.send_message(info.context, input))

    @strawberry.mutation(description="Writes a new sibling branch; the original stays.")
    async def edit_message(self, info: Ctx, input: EditMessageInput) -> Message:
        return from_row(Message, await messages.edit_message(info.context, input))

    @strawberry.mutation
    async def create_plan(self, info: Ctx, input: CreatePlanInput) -> Plan:
        return from_row(Plan, await plans.create_plan(info.context, input))

    @strawberry.mutation(description="A step starts only once all its dependencies are COMPLETED.")
    async def update_step_status(self, info: Ctx, input: UpdateStepStatusInput) -> PlanStep:
        return from_row(PlanStep, await plans.update_step_status(info.context, input))

    @strawberry.mutation
    async def add_step_dependency(
        self, info: Ctx, step_id: strawberry.ID, depends_on_step_id: strawberry.ID
    ) -> PlanStep:
        row = await plans.add_step_dependency(
            info.context, parse_id(step_id, "PlanStep"), parse_id(depends_on_step_id, "PlanStep")
        )
        return from_row(PlanStep, row)

    @strawberry.mutation(description="Cancel, fail or complete a plan by hand.")
    async def set_plan_status(self, info: Ctx, plan_id: strawberry.ID, status: PlanStatus) -> Plan:
        row = await plans.set_plan_status(info.context, parse_id(plan_id, "Plan"), status)
        return from_row(Plan, row)

    @strawberry.mutation
    async def start_trace(self, info: Ctx, input: StartTraceInput) -> Trace:
        return from_row(Trace, await traces.start_trace(info.context, input))

    @strawberry.mutation
    async def end_trace(self, info: Ctx, input: EndTraceInput) -> Trace:
        return from_row(Trace, await traces.end_trace(info.context, input))

    @strawberry.mutation(
        description="Nested under `parentSpanId`, which must be in the same trace."
    )
    async def start_span(self, info: Ctx, input: StartSpanInput) -> Span:
        return from_row(Span, await traces.start_span(info.context, input))

    @strawberry.mutation(description="Records outputs and usage; adds the usage to the trace.")
    async def end_span(self, info: Ctx, input: EndSpanInput) -> Span:
        return from_row(Span, await traces.end_span(info.context, input))

    @strawberry.mutation(description="Idempotent: links that exist are kept.")
    async def link_span_component_versions(
        self, info: Ctx, span_id: strawberry.ID, component_version_ids: list[strawberry.ID]
    ) -> Span:
        version_ids = [parse_id(v, "ComponentVersion") for v in component_version_ids]
        row = await traces.link_span_versions(info.context, parse_id(span_id, "Span"), version_ids)
        return from_row(Span, row)

    @strawberry.mutation(description="The same definition twice returns the same version.")
    async def register_component_version(
        self, info: Ctx, input: RegisterComponentVersionInput
    ) -> ComponentVersion:
        return from_row(ComponentVersion, await components.register_version(info.context, input))

    @strawberry.mutation(
        description="A new API key for you (users only); its secret is in the answer, once."
    )
    async def create_api_key(self, info: Ctx, input: CreateApiKeyInput) -> CreatedApiKey:
        key, secret = await api_keys.create_api_key(
            info.context, input.name, input.scopes, input.agent_id, input.expires_at
        )
        return CreatedApiKey(api_key=from_row(ApiKey, key), secret=secret)

    @strawberry.mutation(
        description="Claim an agent id for yourself (unique across the installation), "
        "or rename one of yours."
    )
    async def register_agent(self, info: Ctx, agent_id: str, name: str | None = None) -> Agent:
        return Agent.of(await agent_identities.register_agent(info.context, agent_id, name))

    @strawberry.mutation(description="The key stops working at once, subscriptions included.")
    async def revoke_api_key(self, info: Ctx, id: strawberry.ID) -> ApiKey:
        return from_row(ApiKey, await api_keys.revoke_api_key(info.context, parse_id(id, "ApiKey")))

    @strawberry.mutation
    async def upsert_chat_settings(
        self, info: Ctx, input: ChatSettingsInput, user_id: str | None = None
    ) -> ChatSettings:
        user_id = info.context.principal.user_id if user_id is None else user_id
        return from_settings(await chat_settings.upsert(info.context, user_id, input))

    @strawberry.mutation(
        description="At most one session per conversation is open: a second is a CONFLICT."
    )
    async def start_agent_session(self, info: Ctx, input: StartAgentSessionInput) -> AgentSession:
        return from_row(AgentSession, await agents.start_agent_session(info.context, input))

    @strawberry.mutation(description="Appends to a STREAMING message's content (ANSWER_CHUNK).")
    async def append_answer_chunk(self, info: Ctx, input: AppendAnswerChunkInput) -> Message:
        return from_row(Message, await agent_stream.append_answer_chunk(info.context, input))

    @strawberry.mutation(description="Appends to a STREAMING message's thinking (THOUGHT).")
    async def report_thought(self, info: Ctx, input: ReportThoughtInput) -> Message:
        return from_row(Message, await agent_stream.report_thought(info.context, input))

    @strawberry.mutation(description="A RUNNING tool call on a STREAMING message, in a TOOL span.")
    async def report_tool_start(self, info: Ctx, input: ReportToolStartInput) -> ToolCall:
        return from_row(ToolCall, await agent_stream.report_tool_start(info.context, input))

    @strawberry.mutation(description="Ends the tool call and its span; ending twice is a CONFLICT.")
    async def report_tool_end(self, info: Ctx, input: ReportToolEndInput) -> ToolCall:
        return from_row(ToolCall, await agent_stream.report_tool_end(info.context, input))

    @strawberry.mutation(description="The ACTIVE session's question, sent as its message.")
    async def ask_user(self, info: Ctx, input: AskUserInput) -> AgentSession:
        return from_row(AgentSession, await agents.ask_user(info.context, input))

    @strawberry.mutation(description="The reply to the question of an AWAITING_USER session.")
    async def answer_agent(self, info: Ctx, input: AnswerAgentInput) -> Message:
        return from_row(Message, await agents.answer_agent(info.context, input))

    @strawberry.mutation(
        description="COMPLETED session and COMPLETE message; null when no session was open."
    )
    async def complete_run(self, info: Ctx, input: CompleteRunInput) -> AgentSession | None:
        return maybe_from_row(AgentSession, await agents.complete_run(info.context, input))

    @strawberry.mutation(
        description="FAILED session and ERROR message; null when no session was open."
    )
    async def fail_run(self, info: Ctx, input: FailRunInput) -> AgentSession | None:
        return maybe_from_row(AgentSession, await agents.fail_run(info.context, input))
