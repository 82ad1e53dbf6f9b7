"""An agent's session in a conversation: start it, ask the user, take the answer, end the run.

What the agent streams meanwhile (chunks, thoughts, tool calls) is in agent_stream.py.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import AgentSession, Event, Message
from models.base import utcnow
from models.enums import (
    AgentSessionStatus,
    EventKind,
    MessageRole,
    MessageStatus,
    MessageType,
    ParticipantType,
)
from models.event import OPEN_SESSION_STATUSES
from resolvers import events, validation
from resolvers.context import Context
from resolvers.errors import Conflict
from resolvers.permissions import Action
from resolvers.principal import Identity
from resolvers.writes import agent_identities
from resolvers.writes.agent_commands import (
    AnswerAgent,
    AskUser,
    CompleteRun,
    FailRun,
    StartAgentSession,
)
from resolvers.writes.commands import KEEP, SendMessage
from resolvers.writes.conversations import lock_conversation, open_conversation
from resolvers.writes.messages import write_message
from resolvers.writes.run_end import Outcome, end_run
from resolvers.writes.stale import stale_refusal
from resolvers.writes.transaction import existing_client_row, message_in, transaction


async def find_open_session(
    session: AsyncSession, conversation_id: uuid.UUID
) -> AgentSession | None:
    """The conversation's open session, if any. Callers hold the conversation lock, and every
    write to sessions takes it first, so what is read here stays true until commit."""
    result = await session.exec(
        select(AgentSession).where(
            col(AgentSession.conversation_id) == conversation_id,
            col(AgentSession.status).in_(OPEN_SESSION_STATUSES),
        )
    )
    return result.first()


async def _open_session_in(
    session: AsyncSession, conversation_id: uuid.UUID, status: AgentSessionStatus
) -> AgentSession:
    """The open session, which must be in `status`."""
    agent = await find_open_session(session, conversation_id)
    if agent is None:
        raise await stale_refusal(session, conversation_id) or Conflict(
            "no agent session is open in this conversation"
        )
    if agent.status != status:
        raise Conflict(f"the agent session is {agent.status}, not {status}")
    return agent


async def start_agent_session(ctx: Context, data: StartAgentSession) -> AgentSession:
    validation.not_blank("profileName", data.profile_name)
    conversation_id, message_id, client_id = data.conversation_id, data.message_id, data.id
    async with transaction(ctx) as session:
        await open_conversation(session, conversation_id, Action.RUN_AGENT)
        # The session's questions are said in the agent's name.
        agent_identity = Identity(ParticipantType.AGENT, data.profile_name)
        await agent_identities.require_speaker(session, ctx.principal, agent_identity)
        found = await existing_client_row(
            session,
            AgentSession,
            client_id,
            conversation_id=conversation_id,
            profile_name=data.profile_name,
        )
        if found is not None:
            return found
        if message_id is not None:
            await message_in(session, message_id, conversation_id, "the session's message")
        agent = AgentSession(
            id=client_id or uuid.uuid4(),
            conversation_id=conversation_id,
            profile_name=data.profile_name,
            message_id=message_id,
        )
        session.add(agent)
        try:
            # The partial unique index decides, not a read before the insert: a read
            # would be one more place for "at most one open session" to go wrong.
            await session.flush()
        except IntegrityError:
            raise Conflict(
                "the conversation already has an open agent session (ACTIVE or "
                "AWAITING_USER): complete or fail its run first"
            ) from None
        await events.record(
            session,
            conversation_id,
            EventKind.AGENT_SESSION_STARTED,
            agent_session_id=agent.id,
            message_id=message_id,
        )
    return agent


async def ask_user(ctx: Context, data: AskUser) -> AgentSession:
    """The agent's question becomes its message in the conversation; the session waits."""
    validation.not_blank("question", data.question)
    conversation_id = data.conversation_id
    async with transaction(ctx) as session:
        await open_conversation(session, conversation_id)
        agent = await _open_session_in(session, conversation_id, AgentSessionStatus.ACTIVE)
        question = SendMessage(
            conversation_id=conversation_id,
            sender_id=agent.profile_name,
            sender_type=ParticipantType.AGENT,
            role=MessageRole.ASSISTANT,
            content=data.question,
            metadata={"askUser": True},
            message_type=MessageType.QUESTION,
        )
        message = await write_message(session, question)
        await _exchange(session, agent, message, EventKind.ASK_USER, data.question)
    return agent


async def answer_agent(ctx: Context, data: AnswerAgent) -> Message:
    """The user's answer, a reply to the question; the session is ACTIVE again."""
    validation.not_blank("answer", data.answer)
    validation.not_blank("senderId", data.sender_id)
    conversation_id = data.conversation_id
    async with transaction(ctx) as session:
        await open_conversation(session, conversation_id, Action.POST)
        agent = await _open_session_in(session, conversation_id, AgentSessionStatus.AWAITING_USER)
        question_id = await _question_message_id(session, agent)
        # Without the question's message (never expected), the default: the latest message.
        # The answer continues the question's turn: the user's prompt is still being answered.
        reply = SendMessage(
            conversation_id=conversation_id,
            sender_id=data.sender_id,
            content=data.answer,
            parent_message_id=KEEP if question_id is None else question_id,
            turn_id=question_id,
        )
        message = await write_message(session, reply)
        await _exchange(session, agent, message, EventKind.USER_ANSWER, data.answer)
    return message


async def _exchange(
    session: AsyncSession, agent: AgentSession, message: Message, kind: EventKind, text: str
) -> None:
    """The turn passes: a question leaves the session waiting for the user, an answer
    makes it ACTIVE again; the event carries the text and the message that holds it."""
    asking = kind == EventKind.ASK_USER
    agent.status = AgentSessionStatus.AWAITING_USER if asking else AgentSessionStatus.ACTIVE
    agent.question = text if asking else None
    agent.last_interaction_at = utcnow()
    await events.record(
        session,
        agent.conversation_id,
        kind,
        {"text": text},
        message_id=message.id,
        agent_session_id=agent.id,
    )


async def _question_message_id(session: AsyncSession, agent: AgentSession) -> uuid.UUID | None:
    # The session keeps the question's text, not its message: its latest ASK_USER event does.
    result = await session.exec(
        select(col(Event.message_id))
        .where(
            col(Event.conversation_id) == agent.conversation_id,
            col(Event.agent_session_id) == agent.id,
            col(Event.kind) == EventKind.ASK_USER,
        )
        .order_by(col(Event.seq).desc())
        .limit(1)
    )
    return result.first()


async def complete_run(ctx: Context, data: CompleteRun) -> AgentSession | None:
    done = Outcome(AgentSessionStatus.COMPLETED, MessageStatus.COMPLETE, EventKind.COMPLETE)
    return await _end_run(ctx, data.conversation_id, data.message_id, done)


async def fail_run(ctx: Context, data: FailRun) -> AgentSession | None:
    validation.not_blank("error", data.error)
    failed = Outcome(
        AgentSessionStatus.FAILED, MessageStatus.ERROR, EventKind.ERROR, error=data.error
    )
    return await _end_run(ctx, data.conversation_id, data.message_id, failed)


async def _end_run(
    ctx: Context, conversation_id: uuid.UUID, message_id: uuid.UUID | None, outcome: Outcome
) -> AgentSession | None:
    """End the open session and the STREAMING message (given, or the session's), with all
    of the run still open (run_end)."""
    async with transaction(ctx) as session:
        # A run may end after its conversation was closed: lock, not open (as endSpan).
        await lock_conversation(session, conversation_id)
        agent = await find_open_session(session, conversation_id)
        message_id = message_id or (agent.message_id if agent is not None else None)
        message = None
        if message_id is not None:
            message = await message_in(session, message_id, conversation_id, "the run's message")
        streaming = message is not None and message.status == MessageStatus.STREAMING
        # Ending a run speaks for its agent and its message's sender.
        if agent is not None:
            profile = Identity(ParticipantType.AGENT, agent.profile_name)
            await agent_identities.require_speaker(session, ctx.principal, profile)
        if message is not None:
            await agent_identities.require_author(session, message)
        if agent is None and not streaming:
            raise Conflict(
                "nothing is running in this conversation: no open agent session "
                "and no STREAMING message"
            )
        await end_run(session, conversation_id, agent, message, outcome)
    return agent
