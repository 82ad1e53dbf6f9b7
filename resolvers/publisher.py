"""What a write announces after it commits, and to what: a `Publisher`, which the
context holds (subscriptions.bus.EventBus is one), so that writes need not know the
broadcast or the streams that follow it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from models import Conversation, Event
from models.enums import EventKind
from resolvers.events import LoadedEvent, Published


class Publisher(Protocol):
    async def publish(self, events: Sequence[Published]) -> None:
        """Announce committed events, in commit order."""

    async def announce_revoked_key(self, key_id: uuid.UUID) -> None:
        """Tell every server process that a key no longer works."""

    async def announce_deleted(self, farewell: Farewell) -> None:
        """Tell a deleted conversation's subscribers, whose streams then end."""


@dataclass(frozen=True)
class Farewell:
    """The last event of a deleted conversation, published on its channel.

    The event log was deleted with the conversation, so the notice carries the event
    itself, and the conversation as it was (its long texts left out: NOTIFY payloads
    stay under 8000 bytes).
    """

    conversation: dict[str, Any]  # the row's fields, as JSON
    seq: int
    created_at: datetime

    KEPT = frozenset(
        {"id", "kind", "status", "title", "owner_id", "created_at", "updated_at"}
        | {"last_activity_at", "message_count", "total_tokens", "cost"}
    )

    @classmethod
    def of(cls, conversation: Conversation, seq: int, at: datetime) -> Farewell:
        return cls(conversation.model_dump(mode="json", include=set(cls.KEPT)), seq, at)

    @property
    def conversation_id(self) -> uuid.UUID:
        return uuid.UUID(self.conversation["id"])

    def encode(self) -> str:
        return json.dumps(
            {"farewell": self.conversation, "s": self.seq, "t": self.created_at.isoformat()}
        )

    @classmethod
    def decode(cls, message: str) -> Farewell | None:
        """The farewell in a message, or None for an event's notice."""
        raw = json.loads(message)
        if "farewell" not in raw:
            return None
        return cls(raw["farewell"], int(raw["s"]), datetime.fromisoformat(raw["t"]))

    def loaded(self) -> LoadedEvent:
        conversation = Conversation.model_validate(self.conversation)
        event = Event(
            conversation_id=conversation.id,
            seq=self.seq,
            kind=EventKind.CONVERSATION_DELETED,
            created_at=self.created_at,
            data={},
        )
        return LoadedEvent(event, {"conversation_id": conversation})
