"""Broadcast channel names and the small messages published on them.

Only ids travel through the broadcast backend (PostgreSQL NOTIFY payloads are
limited to 8000 bytes); subscribers read the event itself from the event log.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from models.enums import EventKind
from resolvers.events import Published

ACTIVITY = "threadline:conversations"
# Published by a backend after it reconnected: anything may have been missed.
RECONNECTED = "threadline:reconnected"
# The id of an API key just revoked: every process ends the subscriptions it opened.
REVOKED_KEYS = "threadline:revoked-keys"

SPAN_KINDS = frozenset({EventKind.SPAN_STARTED, EventKind.SPAN_ENDED})
ACTIVITY_KINDS = frozenset(
    {
        EventKind.CONVERSATION_CREATED,
        EventKind.CONVERSATION_UPDATED,
        EventKind.CONVERSATION_STATUS,
        EventKind.MESSAGE_CREATED,
        EventKind.PARTICIPANT_JOINED,
        EventKind.PARTICIPANT_LEFT,
        EventKind.PARTICIPANT_ROLE_CHANGED,
    }
)


def conversation_channel(conversation_id: uuid.UUID) -> str:
    return f"threadline:conversation:{conversation_id}"


def trace_channel(trace_id: uuid.UUID) -> str:
    return f"threadline:trace:{trace_id}"


@dataclass(frozen=True)
class Notice:
    """What is published for one event: enough to find it in the log."""

    event_id: int
    conversation_id: uuid.UUID
    seq: int
    kind: EventKind

    def encode(self) -> str:
        return json.dumps(
            {"id": self.event_id, "c": str(self.conversation_id), "s": self.seq, "k": self.kind}
        )

    @classmethod
    def decode(cls, message: str) -> Notice:
        raw = json.loads(message)
        return cls(int(raw["id"]), uuid.UUID(raw["c"]), int(raw["s"]), EventKind(raw["k"]))

    @classmethod
    def of(cls, event: Published) -> Notice:
        assert event.id is not None, "events are published after commit, when they have ids"
        return cls(event.id, event.conversation_id, event.seq, event.kind)


def channels_for(event: Published) -> list[str]:
    found = [conversation_channel(event.conversation_id)]
    if event.kind in SPAN_KINDS and event.trace_id is not None:
        found.append(trace_channel(event.trace_id))
    if event.kind in ACTIVITY_KINDS:
        found.append(ACTIVITY)
    return found
