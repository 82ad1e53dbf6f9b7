"""Input types of an agent run: its session, what it streams, its tools, its questions."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.writes import agent_commands as cmd
from schema.commands import to_command
from schema.inputs import CLIENT_ID
from schema.scalars import EMPTY_OBJECT, JSONValue, json_object

TOOL_START_IDS = {
    "message_id": "Message",
    "trace_id": "Trace",
    "parent_span_id": "Span",
    "component_version_ids": "ComponentVersion",
    "id": "ToolCall",
}
RUN_IDS = {"conversation_id": "Conversation", "message_id": "Message"}


@strawberry.input
class StartAgentSessionInput:
    conversation_id: strawberry.ID
    profile_name: str = strawberry.field(description="Which agent; it sends the agent's messages.")
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    message_id: strawberry.ID | None = strawberry.field(
        default=None, description="The message the agent is producing, if it exists already."
    )

    def to_command(self) -> cmd.StartAgentSession:
        ids = {"conversation_id": "Conversation", "id": "AgentSession", "message_id": "Message"}
        return to_command(self, cmd.StartAgentSession, ids)


@strawberry.input(description="Text appended to a STREAMING message's content.")
class AppendAnswerChunkInput:
    message_id: strawberry.ID
    text: str = strawberry.field(description="Not empty; whitespace is kept as sent.")

    def to_command(self) -> cmd.AppendAnswerChunk:
        return to_command(self, cmd.AppendAnswerChunk, {"message_id": "Message"})


@strawberry.input(description="Text appended to a STREAMING message's thinking.")
class ReportThoughtInput:
    message_id: strawberry.ID
    text: str = strawberry.field(description="Not empty; whitespace is kept as sent.")

    def to_command(self) -> cmd.ReportThought:
        return to_command(self, cmd.ReportThought, {"message_id": "Message"})


@strawberry.input
class ReportToolStartInput:
    message_id: strawberry.ID = strawberry.field(description="A STREAMING message.")
    call_id: str = strawberry.field(description="The model's id for the call (unique per message).")
    tool_name: str
    arguments: JSONValue | None = strawberry.field(default=None, description=EMPTY_OBJECT)
    trace_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Defaults to the message's latest trace, or a new 'agent run' trace.",
    )
    parent_span_id: strawberry.ID | None = None
    component_version_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)

    def to_command(self) -> cmd.ReportToolStart:
        arguments = json_object(self.arguments)
        return to_command(self, cmd.ReportToolStart, TOOL_START_IDS, arguments=arguments)


@strawberry.input(description="Without `error` the call COMPLETED; with it, it FAILED.")
class ReportToolEndInput:
    tool_call_id: strawberry.ID
    result: JSONValue | None = None
    error: str | None = None
    ended_at: datetime | None = None

    def to_command(self) -> cmd.ReportToolEnd:
        return to_command(self, cmd.ReportToolEnd, {"tool_call_id": "ToolCall"})


@strawberry.input
class AskUserInput:
    conversation_id: strawberry.ID
    question: str

    def to_command(self) -> cmd.AskUser:
        return to_command(self, cmd.AskUser, {"conversation_id": "Conversation"})


@strawberry.input
class AnswerAgentInput:
    conversation_id: strawberry.ID
    answer: str
    sender_id: str

    def to_command(self) -> cmd.AnswerAgent:
        return to_command(self, cmd.AnswerAgent, {"conversation_id": "Conversation"})


@strawberry.input
class CompleteRunInput:
    conversation_id: strawberry.ID
    message_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the message the agent was producing."
    )

    def to_command(self) -> cmd.CompleteRun:
        return to_command(self, cmd.CompleteRun, RUN_IDS)


@strawberry.input
class FailRunInput:
    conversation_id: strawberry.ID
    error: str
    message_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the message the agent was producing."
    )

    def to_command(self) -> cmd.FailRun:
        return to_command(self, cmd.FailRun, RUN_IDS)
