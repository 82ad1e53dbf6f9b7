"""What an agent run is asked to do (agents.py, agent_stream.py); as commands.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from resolvers.writes.commands import Json


@dataclass(frozen=True, kw_only=True)
class StartAgentSession:
    conversation_id: uuid.UUID
    profile_name: str
    id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None  # the message the agent produces, if it exists


@dataclass(frozen=True, kw_only=True)
class AppendText:
    """Text appended to a STREAMING message (whitespace kept as sent)."""

    message_id: uuid.UUID
    text: str


@dataclass(frozen=True, kw_only=True)
class AppendAnswerChunk(AppendText):
    """To its content."""


@dataclass(frozen=True, kw_only=True)
class ReportThought(AppendText):
    """To its thinking."""


@dataclass(frozen=True, kw_only=True)
class ReportToolStart:
    message_id: uuid.UUID
    call_id: str
    tool_name: str
    arguments: Json = field(default_factory=dict)
    trace_id: uuid.UUID | None = None
    parent_span_id: uuid.UUID | None = None
    component_version_ids: list[uuid.UUID] = field(default_factory=list)
    id: uuid.UUID | None = None


@dataclass(frozen=True, kw_only=True)
class ReportToolEnd:
    tool_call_id: uuid.UUID
    result: Json | None = None
    error: str | None = None  # with it the call FAILED, else it COMPLETED
    ended_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class AskUser:
    conversation_id: uuid.UUID
    question: str


@dataclass(frozen=True, kw_only=True)
class AnswerAgent:
    conversation_id: uuid.UUID
    answer: str
    sender_id: str


@dataclass(frozen=True, kw_only=True)
class CompleteRun:
    conversation_id: uuid.UUID
    message_id: uuid.UUID | None = None  # by default the message the agent was producing


@dataclass(frozen=True, kw_only=True)
class FailRun(CompleteRun):
    error: str
