"""SQLModel tables, one module per aggregate; importing this package completes the metadata."""

from sqlmodel import SQLModel

from models.auth import Agent, ApiKey
from models.component import Component, ComponentVersion
from models.conversation import Conversation, Message, MessageReference, Participant, ToolCall
from models.event import AgentSession, Event
from models.health import ReadinessProbe
from models.ingest import IngestReceipt, PendingLogRecord
from models.plan import Plan, PlanStep, StepDependency
from models.pricing import ModelPrice
from models.rollups import (
    LatencyBucket,
    LatencyMonth,
    NameLatencyDay,
    NameLatencyMonth,
    NameUsageDay,
    UsageDay,
    UsageRollup,
    UserLatencyDay,
    UserLatencyMonth,
    UserUsageDay,
)
from models.score import Score
from models.score_rollups import ScoreRollup, ScoreTotal
from models.search import SearchDocument
from models.settings import ChatSettings, InstallationSecret
from models.trace import Span, SpanComponentVersion, Trace
from models.trace_versions import TraceVersion

metadata = SQLModel.metadata

__all__ = [
    "Agent",
    "AgentSession",
    "ApiKey",
    "ChatSettings",
    "Component",
    "ComponentVersion",
    "Conversation",
    "Event",
    "IngestReceipt",
    "InstallationSecret",
    "LatencyBucket",
    "LatencyMonth",
    "Message",
    "MessageReference",
    "ModelPrice",
    "NameLatencyDay",
    "NameLatencyMonth",
    "NameUsageDay",
    "Participant",
    "PendingLogRecord",
    "Plan",
    "PlanStep",
    "ReadinessProbe",
    "Score",
    "ScoreRollup",
    "ScoreTotal",
    "SearchDocument",
    "Span",
    "SpanComponentVersion",
    "StepDependency",
    "ToolCall",
    "Trace",
    "TraceVersion",
    "UsageDay",
    "UsageRollup",
    "UserLatencyDay",
    "UserLatencyMonth",
    "UserUsageDay",
    "metadata",
]
