"""GraphQL enums: the stored enumerations, plus the API's own sort options."""

from enum import StrEnum

import strawberry

from models import enums

ConversationKind = strawberry.enum(enums.ConversationKind)
ConversationStatus = strawberry.enum(enums.ConversationStatus)
ParticipantType = strawberry.enum(enums.ParticipantType)
ParticipantRole = strawberry.enum(enums.ParticipantRole)
MessageRole = strawberry.enum(enums.MessageRole)
MessageStatus = strawberry.enum(enums.MessageStatus)
ToolCallStatus = strawberry.enum(enums.ToolCallStatus)
PlanStatus = strawberry.enum(enums.PlanStatus)
StepStatus = strawberry.enum(enums.StepStatus)
TraceStatus = strawberry.enum(enums.TraceStatus)
SpanKind = strawberry.enum(enums.SpanKind)
SpanStatus = strawberry.enum(enums.SpanStatus)
ComponentType = strawberry.enum(enums.ComponentType)


@strawberry.enum
class ConversationOrderField(StrEnum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    LAST_ACTIVITY_AT = "last_activity_at"


@strawberry.enum
class OrderDirection(StrEnum):
    ASC = "ASC"
    DESC = "DESC"
