"""Input types of an agent run: its session, what it streams, its tools, its questions."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.inputs import CLIENT_ID
from schema.scalars import JSONValue


@strawberry.input
class StartAgentSessionInput:
    conversation_id: strawberry.ID
    profile_name: str = strawberry.field(description="Which agent; it sends the agent's messages.")
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)
    message_id: strawberry.ID | None = strawberry.field(
        default=None, description="The message the agent is producing, if it exists already."
    )


@strawberry.input(description="Text appended to a STREAMING message's content.")
class AppendAnswerChunkInput:
    message_id: strawberry.ID
    text: str = strawberry.field(description="Not empty; whitespace is kept as sent.")


@strawberry.input(description="Text appended to a STREAMING message's thinking.")
class ReportThoughtInput:
    message_id: strawberry.ID
    text: str = strawberry.field(description="Not empty; whitespace is kept as sent.")


@strawberry.input
class ReportToolStartInput:
    message_id: strawberry.ID = strawberry.field(description="A STREAMING message.")
    call_id: str = strawberry.field(description="The model's id for the call (unique per message).")
    tool_name: str
    arguments: JSONValue = strawberry.field(default_factory=dict)
    trace_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Defaults to the message's latest trace, or a new 'agent run' trace.",
    )
    parent_span_id: strawberry.ID | None = None
    component_version_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    id: strawberry.ID | None = strawberry.field(default=None, description=CLIENT_ID)


@strawberry.input(description="Without `error` the call COMPLETED; with it, it FAILED.")
class ReportToolEndInput:
    tool_call_id: strawberry.ID
    result: JSONValue | None = None
    error: str | None = None
    ended_at: datetime | None = None


@strawberry.input
class AskUserInput:
    conversation_id: strawberry.ID
    question: str


@strawberry.input
class AnswerAgentInput:
    conversation_id: strawberry.ID
    answer: str
    sender_id: str


@strawberry.input
class CompleteRunInput:
    conversation_id: strawberry.ID
    message_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the message the agent was producing."
    )


@strawberry.input
class FailRunInput:
    conversation_id: strawberry.ID
    error: str
    message_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the message the agent was producing."
    )
