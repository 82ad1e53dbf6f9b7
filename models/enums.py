"""Enumerations shared by the tables and the GraphQL API (stored as strings)."""

from enum import StrEnum


class ConversationKind(StrEnum):
    USER_AGENT = "USER_AGENT"
    AGENT_AGENT = "AGENT_AGENT"
    MULTI_PARTY = "MULTI_PARTY"


class ConversationStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    CLOSED = "CLOSED"


class ParticipantType(StrEnum):
    USER = "USER"
    AGENT = "AGENT"
    SYSTEM = "SYSTEM"


class ParticipantRole(StrEnum):
    OWNER = "OWNER"
    MEMBER = "MEMBER"
    OBSERVER = "OBSERVER"


class MessageRole(StrEnum):
    USER = "USER"
    ASSISTANT = "ASSISTANT"
    SYSTEM = "SYSTEM"
    TOOL = "TOOL"


class MessageType(StrEnum):
    """What a message is, beside who said it (its role)."""

    TEXT = "TEXT"
    ANSWER = "ANSWER"
    QUESTION = "QUESTION"
    THOUGHT = "THOUGHT"
    PLAN = "PLAN"
    TOOL_CALL = "TOOL_CALL"
    TOOL_RESULT = "TOOL_RESULT"
    ERROR = "ERROR"


class ReferenceKind(StrEnum):
    MESSAGE = "MESSAGE"
    SPAN = "SPAN"
    DOCUMENT = "DOCUMENT"


class MessageStatus(StrEnum):
    STREAMING = "STREAMING"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"


class ToolCallStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class CostSource(StrEnum):
    """Where a stored cost came from: stated by the writer, or priced from the price
    table when it was written (so a later price change rewrites no history)."""

    REPORTED = "REPORTED"
    PRICED = "PRICED"
    NONE = "NONE"


class PlanStatus(StrEnum):
    DRAFT = "DRAFT"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class StepStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


class TraceStatus(StrEnum):
    RUNNING = "RUNNING"
    OK = "OK"
    ERROR = "ERROR"


class SpanKind(StrEnum):
    LLM = "LLM"
    TOOL = "TOOL"
    RETRIEVER = "RETRIEVER"
    EMBEDDING = "EMBEDDING"
    AGENT = "AGENT"
    CHAIN = "CHAIN"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"
    OTHER = "OTHER"


class SpanStatus(StrEnum):
    UNSET = "UNSET"
    OK = "OK"
    ERROR = "ERROR"


class ComponentType(StrEnum):
    PROMPT = "PROMPT"
    TOOL = "TOOL"
    MODEL_CONFIG = "MODEL_CONFIG"
    AGENT = "AGENT"
    OTHER = "OTHER"


class EventKind(StrEnum):
    CONVERSATION_CREATED = "CONVERSATION_CREATED"
    CONVERSATION_UPDATED = "CONVERSATION_UPDATED"
    CONVERSATION_STATUS = "CONVERSATION_STATUS"
    PARTICIPANT_JOINED = "PARTICIPANT_JOINED"
    PARTICIPANT_LEFT = "PARTICIPANT_LEFT"
    PARTICIPANT_ROLE_CHANGED = "PARTICIPANT_ROLE_CHANGED"
    MESSAGE_CREATED = "MESSAGE_CREATED"
    MESSAGE_UPDATED = "MESSAGE_UPDATED"
    # A message sent with a routing decision: where it went and why, and its run.
    MESSAGE_ROUTED = "MESSAGE_ROUTED"
    ANSWER_CHUNK = "ANSWER_CHUNK"
    THOUGHT = "THOUGHT"
    TOOL_START = "TOOL_START"
    TOOL_END = "TOOL_END"
    ASK_USER = "ASK_USER"
    USER_ANSWER = "USER_ANSWER"
    PLAN_UPDATED = "PLAN_UPDATED"
    STEP_STATUS = "STEP_STATUS"
    TRACE_STARTED = "TRACE_STARTED"
    TRACE_ENDED = "TRACE_ENDED"
    SPAN_STARTED = "SPAN_STARTED"
    SPAN_ENDED = "SPAN_ENDED"
    AGENT_SESSION_STARTED = "AGENT_SESSION_STARTED"
    # An AWAITING_USER session waited past AGENT_WAIT_TIMEOUT_SECONDS.
    AGENT_SESSION_STALE = "AGENT_SESSION_STALE"
    # Messages removed by deleteMessage (a message and its replies).
    MESSAGES_DELETED = "MESSAGES_DELETED"
    # The conversation's last event: it was deleted, its event log with it.
    CONVERSATION_DELETED = "CONVERSATION_DELETED"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"


class AgentSessionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    AWAITING_USER = "AWAITING_USER"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    # Waited for the user too long: closed; the agent starts a new session.
    STALE = "STALE"


class ApiKeyScope(StrEnum):
    """What an API key may do: READ queries and subscriptions, WRITE mutations,
    INGEST bulk and OpenTelemetry ingestion."""

    READ = "READ"
    WRITE = "WRITE"
    INGEST = "INGEST"


class ScoreKind(StrEnum):
    """NUMERIC scores carry a value, CATEGORICAL ones a label, BOOLEAN ones 0 or 1."""

    NUMERIC = "NUMERIC"
    CATEGORICAL = "CATEGORICAL"
    BOOLEAN = "BOOLEAN"


class ScoreSource(StrEnum):
    HUMAN = "HUMAN"
    LLM = "LLM"
    CODE = "CODE"


class ScoreTarget(StrEnum):
    MESSAGE = "MESSAGE"
    SPAN = "SPAN"
    TRACE = "TRACE"
    CONVERSATION = "CONVERSATION"
