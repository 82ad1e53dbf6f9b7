"""The mutations of an agent run: its session, what it streams, its questions, its end."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.writes import agent_stream, agents
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
from schema.message import Message, ToolCall
from schema.node import from_row, maybe_from_row

Ctx = Info[Context, None]


@strawberry.type
class AgentMutations:
    @strawberry.mutation(
        description="At most one session per conversation is open: a second is a CONFLICT."
    )
    async def start_agent_session(self, info: Ctx, input: StartAgentSessionInput) -> AgentSession:
        row = await agents.start_agent_session(info.context, input.to_command())
        return from_row(AgentSession, row)

    @strawberry.mutation(description="Appends to a STREAMING message's content (ANSWER_CHUNK).")
    async def append_answer_chunk(self, info: Ctx, input: AppendAnswerChunkInput) -> Message:
        row = await agent_stream.append_answer_chunk(info.context, input.to_command())
        return from_row(Message, row)

    @strawberry.mutation(description="Appends to a STREAMING message's thinking (THOUGHT).")
    async def report_thought(self, info: Ctx, input: ReportThoughtInput) -> Message:
        return from_row(
            Message, await agent_stream.report_thought(info.context, input.to_command())
        )

    @strawberry.mutation(description="A RUNNING tool call on a STREAMING message, in a TOOL span.")
    async def report_tool_start(self, info: Ctx, input: ReportToolStartInput) -> ToolCall:
        row = await agent_stream.report_tool_start(info.context, input.to_command())
        return from_row(ToolCall, row)

    @strawberry.mutation(description="Ends the tool call and its span; ending twice is a CONFLICT.")
    async def report_tool_end(self, info: Ctx, input: ReportToolEndInput) -> ToolCall:
        row = await agent_stream.report_tool_end(info.context, input.to_command())
        return from_row(ToolCall, row)

    @strawberry.mutation(
        description="The ACTIVE session's question, sent as its message; until the "
        "user answers, the agent cannot stream into the session (CONFLICT)."
    )
    async def ask_user(self, info: Ctx, input: AskUserInput) -> AgentSession:
        return from_row(AgentSession, await agents.ask_user(info.context, input.to_command()))

    @strawberry.mutation(description="The reply to the question of an AWAITING_USER session.")
    async def answer_agent(self, info: Ctx, input: AnswerAgentInput) -> Message:
        return from_row(Message, await agents.answer_agent(info.context, input.to_command()))

    @strawberry.mutation(
        description="COMPLETED session and COMPLETE message; what the run left open ends too "
        "(the agent's other STREAMING messages COMPLETE, open spans and RUNNING traces OK, "
        "RUNNING tool calls FAILED). Null when no session was open."
    )
    async def complete_run(self, info: Ctx, input: CompleteRunInput) -> AgentSession | None:
        row = await agents.complete_run(info.context, input.to_command())
        return maybe_from_row(AgentSession, row)

    @strawberry.mutation(
        description="FAILED session and ERROR message; what the run left open ends too, as "
        "errors with `error` (STREAMING messages, open spans, RUNNING traces and tool calls). "
        "Null when no session was open."
    )
    async def fail_run(self, info: Ctx, input: FailRunInput) -> AgentSession | None:
        return maybe_from_row(AgentSession, await agents.fail_run(info.context, input.to_command()))
