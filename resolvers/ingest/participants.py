"""Who takes part in an ingested run: who sends its messages, and who joins its
conversation.

A span's user is the user it names (user.id, enduser.id), else its nearest ancestor's
in the batch, else the first its trace names, else the caller (the key's owner). Its
agent is the caller's agent identity (an agent's API key), else the agent it names
(gen_ai.agent.name, gen_ai.agent.id) found the same way, else the service's name,
else "agent". USER messages are the user's, ASSISTANT and TOOL ones the agent's; both
join the conversation as MEMBERs of their type, also when it existed before, so its
participants and the senders of its messages agree. A trace is a run of the caller's
agent identity, else of the agent its earliest span that has one present has.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from models import Participant
from models.base import utcnow
from models.enums import EventKind, MessageRole, ParticipantRole, ParticipantType
from resolvers.ingest.batch import Mapped, Outcome, TraceBatch
from resolvers.ingest.mapping import SpanFacts
from resolvers.ingest.rows import insert_rows
from resolvers.principal import Identity, Principal

AGENT_ROLES = {MessageRole.ASSISTANT, MessageRole.TOOL}


@dataclass(frozen=True)
class Speakers:
    """Who a span's messages are from."""

    user: str
    agent: str

    def sender(self, role: MessageRole) -> tuple[str, ParticipantType]:
        if role == MessageRole.USER:
            return self.user, ParticipantType.USER
        if role == MessageRole.SYSTEM:
            return "system", ParticipantType.SYSTEM
        return self.agent, ParticipantType.AGENT


@dataclass
class Cast:
    """The speakers of each span of a batch (by span row id), who is present in each
    conversation (participant id -> type), and the agent each trace is a run of (by
    trace row id; none when no agent is present)."""

    speakers: dict[uuid.UUID, Speakers] = field(default_factory=dict)
    present: dict[uuid.UUID, dict[str, ParticipantType]] = field(default_factory=dict)
    agents: dict[uuid.UUID, str] = field(default_factory=dict)


def cast(batches: list[TraceBatch], principal: Principal) -> Cast:
    found = Cast()
    for batch in batches:
        by_id = {m.id: m for m in batch.spans}
        ordered = sorted(batch.spans, key=lambda m: m.span.started_at)
        first_user = next((m.facts.user_id for m in ordered if m.facts.user_id), None)
        first_agent = next((m.facts.agent_name for m in ordered if m.facts.agent_name), None)
        present = found.present.setdefault(batch.conversation_id, {})
        if principal.agent_id:
            found.agents[batch.id] = principal.agent_id
        for m in ordered:
            user = _inherited(m, by_id, lambda f: f.user_id) or first_user
            agent = _inherited(m, by_id, lambda f: f.agent_name) or first_agent
            who = Speakers(
                user or principal.user_id,
                principal.agent_id or agent or m.facts.service or "agent",
            )
            found.speakers[m.id] = who
            roles = {s.role for s in [*m.facts.messages_in, *m.facts.messages_out]}
            if m.facts.user_id or MessageRole.USER in roles:
                present.setdefault(who.user, ParticipantType.USER)
            if m.facts.agent_name or roles & AGENT_ROLES:
                present.setdefault(who.agent, ParticipantType.AGENT)
                found.agents.setdefault(batch.id, who.agent)
    return found


def _inherited(
    m: Mapped, by_id: dict[uuid.UUID, Mapped], named: Callable[[SpanFacts], str | None]
) -> str | None:
    """What the span names, else its nearest ancestor in the batch."""
    span: Mapped | None = m
    # Bounded: a cycle of parents (a malformed export) must not loop forever.
    for _ in range(len(by_id)):
        if span is None:
            break
        value = named(span.facts)
        if value:
            return value
        span = by_id.get(span.parent_id) if span.parent_id else None
    return None


async def join(
    session: AsyncSession,
    found: Cast,
    principal: Principal,
    new_conversations: set[uuid.UUID],
    outcome: Outcome,
) -> None:
    """Add who is present to each conversation, once each (PARTICIPANT_JOINED for those
    new to it); rows already there (the OWNER among them) stay as they are.

    Telemetry names identities nobody vouched for: one that is not the sender's own
    joins inactive, listed but granting nothing (as an import's other participants), so
    that an attribute cannot open a conversation to whoever it names."""
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "conversation_id": conversation_id,
            "participant_id": participant_id,
            "participant_type": kind,
            "role": ParticipantRole.MEMBER,
            "active": principal.is_one_of_mine(Identity(kind, participant_id)),
            "joined_at": now,
        }
        for conversation_id, present in found.present.items()
        for participant_id, kind in present.items()
    ]
    written = set(
        await insert_rows(
            session, Participant, rows, ignore_duplicates=True, returning=Participant.id
        )
    )
    for row in rows:
        # A conversation the batch created starts with them, as with its owner: its
        # CONVERSATION_CREATED says so.
        if row["id"] in written and row["conversation_id"] not in new_conversations:
            outcome.event(
                row["conversation_id"], EventKind.PARTICIPANT_JOINED, participant_id=row["id"]
            )
