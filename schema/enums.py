"""GraphQL enums: the stored enumerations, plus the API's own sort options."""

from enum import StrEnum

import strawberry

from models.enums import (
    ComponentType,
    ConversationKind,
    ConversationStatus,
    MessageRole,
    MessageStatus,
    ParticipantRole,
    ParticipantType,
    PlanStatus,
    SpanKind,
    SpanStatus,
    StepStatus,
    ToolCallStatus,
    TraceStatus,
)

STORED = (
    ComponentType,
    ConversationKind,
    ConversationStatus,
    MessageRole,
    MessageStatus,
    ParticipantRole,
    ParticipantType,
    PlanStatus,
    SpanKind,
    SpanStatus,
    StepStatus,
    ToolCallStatus,
    TraceStatus,
)
for stored in STORED:
    # Registers the enum with Strawberry in place; the class itself is returned.
    strawberry.enum(stored)


@strawberry.enum
class ConversationOrderField(StrEnum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    LAST_ACTIVITY_AT = "last_activity_at"


@strawberry.enum
class OrderDirection(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


__all__ = [
    "ComponentType",
    "ConversationKind",
    "ConversationOrderField",
    "ConversationStatus",
    "MessageRole",
    "MessageStatus",
    "OrderDirection",
    "ParticipantRole",
    "ParticipantType",
    "PlanStatus",
    "SpanKind",
    "SpanStatus",
    "StepStatus",
    "ToolCallStatus",
    "TraceStatus",
]
