"""GraphQL enums: every stored enumeration, registered here, plus the API's own sort options.

The stored enumerations (models/enums.py) are the API's enums as they are; registering
them by discovery means a new one cannot be forgotten.
"""

from enum import Enum, StrEnum

import strawberry

from models import enums as stored

for member in vars(stored).values():
    if (
        isinstance(member, type)
        and issubclass(member, Enum)
        and member.__module__ == stored.__name__
    ):
        strawberry.enum(member)


@strawberry.enum(
    description="COST, TOTAL_TOKENS and MESSAGE_COUNT sort by the conversation's own totals "
    "(cost, totalTokens, messageCount). In every order, ties go by id."
)
class ConversationOrderField(StrEnum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    LAST_ACTIVITY_AT = "last_activity_at"
    COST = "cost"
    TOTAL_TOKENS = "total_tokens"
    MESSAGE_COUNT = "message_count"


@strawberry.enum
class OrderDirection(StrEnum):
    ASC = "ASC"
    DESC = "DESC"
