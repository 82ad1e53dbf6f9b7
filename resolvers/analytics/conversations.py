"""`Conversation.metrics`: a conversation's figures, for many conversations at once.

Each figure is one grouped statement over every conversation of a DataLoader batch,
so a page of conversations costs five statements, not five per conversation. Every
branch counts (as `messageCount` does): an edited message is a message too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import aliased
from sqlmodel import col

from models import Event, Message, Plan, PlanStep, ToolCall
from models.enums import EventKind, MessageRole, StepStatus, ToolCallStatus
from resolvers.analytics.sql import epoch_ms, percentile, percentile_columns
from resolvers.context import Context


@dataclass
class RoleFigures:
    role: MessageRole
    count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal(0)


@dataclass
class ToolFigures:
    tool_name: str
    count: int
    error_count: int

    @property
    def error_rate(self) -> float:
        return self.error_count / self.count


@dataclass
class ConversationMetrics:
    by_role: list[RoleFigures] = field(
        default_factory=lambda: [RoleFigures(role) for role in MessageRole]
    )
    turns: int = 0
    answer_latency_avg: float | None = None
    answer_latency_p95: float | None = None
    tools: list[ToolFigures] = field(default_factory=list)
    steps_done: int = 0
    steps_total: int = 0
    questions_asked: int = 0
    questions_answered: int = 0
    waiting_on_user_ms: float = 0.0


Batch = dict[uuid.UUID, ConversationMetrics]


async def _by_role(ctx: Context, found: Batch) -> None:
    rows = await ctx.loaders.fetch(
        select(
            col(Message.conversation_id),
            col(Message.role),
            func.count(),
            func.sum(col(Message.input_tokens)),
            func.sum(col(Message.output_tokens)),
            func.sum(col(Message.total_tokens)),
            func.sum(col(Message.cost)),
        )
        .where(col(Message.conversation_id).in_(found))
        .group_by(col(Message.conversation_id), col(Message.role))
    )
    for conversation_id, role, *figures in rows:
        found[conversation_id].by_role[list(MessageRole).index(role)] = RoleFigures(role, *figures)


async def _turns(ctx: Context, found: Batch) -> None:
    """A turn is a user message the agent answered: a USER message with an ASSISTANT
    reply. A second answer to it (regenerated) adds none; an unanswered one neither."""
    answer = aliased(Message)
    rows = await ctx.loaders.fetch(
        select(col(Message.conversation_id), func.count(func.distinct(col(Message.id))))
        .join(answer, col(answer.parent_message_id) == col(Message.id))
        .where(
            col(Message.conversation_id).in_(found),
            col(Message.role) == MessageRole.USER,
            col(answer.role) == MessageRole.ASSISTANT,
        )
        .group_by(col(Message.conversation_id))
    )
    for conversation_id, turns in rows:
        found[conversation_id].turns = turns


async def _answer_latency(ctx: Context, found: Batch) -> None:
    """Mean and nearest-rank p95 of the latency ASSISTANT messages reported (latencyMs)."""
    latency = col(Message.latency_ms)
    rank, ranked = percentile_columns(latency, [col(Message.conversation_id)])
    answers = (
        select(
            col(Message.conversation_id).label("conversation_id"),
            latency.label("latency"),
            rank.label("latency_rank"),
            ranked.label("latencies"),
        )
        .where(
            col(Message.conversation_id).in_(found),
            col(Message.role) == MessageRole.ASSISTANT,
            latency.is_not(None),
        )
        .subquery("answers")
    )
    measured = answers.c.latency, answers.c.latency_rank, answers.c.latencies
    rows = await ctx.loaders.fetch(
        select(
            answers.c.conversation_id, func.avg(answers.c.latency), percentile(95, *measured)
        ).group_by(answers.c.conversation_id)
    )
    for conversation_id, average, p95 in rows:
        metrics = found[conversation_id]
        metrics.answer_latency_avg = float(average)
        metrics.answer_latency_p95 = float(p95)


async def _tools(ctx: Context, found: Batch) -> None:
    failed = case((col(ToolCall.status) == ToolCallStatus.FAILED, 1), else_=0)
    rows = await ctx.loaders.fetch(
        select(
            col(Message.conversation_id), col(ToolCall.tool_name), func.count(), func.sum(failed)
        )
        .join(Message, col(Message.id) == col(ToolCall.message_id))
        .where(col(Message.conversation_id).in_(found))
        .group_by(col(Message.conversation_id), col(ToolCall.tool_name))
        .order_by(col(ToolCall.tool_name))
    )
    for conversation_id, tool_name, count, errors in rows:
        found[conversation_id].tools.append(ToolFigures(tool_name, count, errors))


async def _plan_steps(ctx: Context, found: Batch) -> None:
    done = case((col(PlanStep.status) == StepStatus.COMPLETED, 1), else_=0)
    rows = await ctx.loaders.fetch(
        select(col(Plan.conversation_id), func.sum(done), func.count())
        .join(Plan, col(Plan.id) == col(PlanStep.plan_id))
        .where(col(Plan.conversation_id).in_(found))
        .group_by(col(Plan.conversation_id))
    )
    for conversation_id, steps_done, steps_total in rows:
        metrics = found[conversation_id]
        metrics.steps_done, metrics.steps_total = steps_done, steps_total


async def _waiting(ctx: Context, found: Batch) -> None:
    """Time from each question (ASK_USER, the session turns AWAITING_USER) to its answer
    (USER_ANSWER, ACTIVE again), from the event log: in one session the two alternate,
    so an answer's wait began at the event before it. A question still open, or left
    unanswered (the session went STALE or ended), adds no time."""
    exchange = (EventKind.ASK_USER, EventKind.USER_ANSWER)
    session, order = col(Event.agent_session_id), col(Event.seq)
    at = epoch_ms(col(Event.created_at))
    events = (
        select(
            col(Event.conversation_id).label("conversation_id"),
            col(Event.kind).label("kind"),
            at.label("at"),
            func.lag(col(Event.kind))
            .over(partition_by=session, order_by=order)
            .label("previous_kind"),
            func.lag(at).over(partition_by=session, order_by=order).label("previous_at"),
        )
        .where(col(Event.conversation_id).in_(found), col(Event.kind).in_(exchange))
        .subquery("exchanges")
    )
    answered = (events.c.kind == EventKind.USER_ANSWER) & (
        events.c.previous_kind == EventKind.ASK_USER
    )
    rows = await ctx.loaders.fetch(
        select(
            events.c.conversation_id,
            func.sum(case((events.c.kind == EventKind.ASK_USER, 1), else_=0)),
            func.sum(case((answered, 1), else_=0)),
            func.sum(case((answered, events.c.at - events.c.previous_at), else_=0.0)),
        ).group_by(events.c.conversation_id)
    )
    for conversation_id, asked, answered_count, waited in rows:
        metrics = found[conversation_id]
        metrics.questions_asked, metrics.questions_answered = asked, answered_count
        metrics.waiting_on_user_ms = float(waited)


FIGURES = (_by_role, _turns, _answer_latency, _tools, _plan_steps, _waiting)


def conversation_metrics(ctx: Context) -> Any:
    """Loader: conversation id -> ConversationMetrics (the caller saw the conversation,
    so everything in it is visible)."""

    async def load(conversation_ids: Sequence[uuid.UUID]) -> list[ConversationMetrics]:
        found: Batch = {i: ConversationMetrics() for i in conversation_ids}
        for figures in FIGURES:
            await figures(ctx, found)
        return [found[i] for i in conversation_ids]

    return ctx.loaders.custom("conversation_metrics", load)
