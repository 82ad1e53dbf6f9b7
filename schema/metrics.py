"""Per-conversation figures: `Conversation.metrics` and `Conversation.modelsUsed`."""

from __future__ import annotations

from dataclasses import asdict

import strawberry

from models.enums import MessageRole
from resolvers.analytics import conversations as figures
from resolvers.analytics import models_used
from resolvers.writes.totals import Usage
from schema.scalars import Long


@strawberry.type(
    description="Messages of one role, on every branch, with the usage they show (a message "
    "a span produced shows the span's)."
)
class RoleMetrics:
    role: MessageRole
    count: Long
    input_tokens: Long
    output_tokens: Long
    total_tokens: Long
    cost: float


@strawberry.type(description="Calls of one tool; errors are FAILED calls.")
class ToolMetrics:
    tool_name: str
    count: Long
    error_count: Long
    error_rate: float


@strawberry.type(
    description="What one model (of one provider) used in a conversation: its spans and "
    "the messages no span produced, each call counted once, as `usage` counts them."
)
class ModelUsage:
    model: str
    provider: str | None
    calls: Long
    input_tokens: Long
    output_tokens: Long
    total_tokens: Long
    cost: float

    @classmethod
    def of(cls, used: models_used.ModelUsage) -> ModelUsage:
        # The same fields by the same names; the cost a Float, as every cost of the API.
        return cls(**{**asdict(used), "cost": float(used.cost)})


@strawberry.type(
    description="A conversation's figures, every branch counted. Answer latency is the "
    "`latencyMs` ASSISTANT messages reported (nearest-rank p95)."
)
class ConversationMetrics:
    turns: int = strawberry.field(
        description="USER messages with an ASSISTANT reply (a regenerated answer adds none)."
    )
    message_count: Long
    messages_by_role: list[RoleMetrics] = strawberry.field(
        description="Every role, in enumeration order, zeros included."
    )
    input_tokens: Long = strawberry.field(description="The conversation's totals (as its own).")
    output_tokens: Long
    total_tokens: Long
    cost: float
    answer_latency_avg_ms: float | None
    answer_latency_p95_ms: float | None
    tool_call_count: Long
    tool_calls: list[ToolMetrics] = strawberry.field(description="By tool name.")
    plan_steps_done: int = strawberry.field(description="COMPLETED steps of every plan.")
    plan_steps_total: int
    plan_completion: float | None = strawberry.field(
        description="planStepsDone / planStepsTotal; null without steps."
    )
    questions_asked: int = strawberry.field(description="askUser questions.")
    questions_answered: int
    waiting_on_user_ms: float = strawberry.field(
        description="Time from each question to its answer (agent session AWAITING_USER to "
        "answerAgent); open or unanswered questions add none."
    )

    @classmethod
    def of(cls, m: figures.ConversationMetrics, totals: Usage) -> ConversationMetrics:
        roles = [
            RoleMetrics(
                role=r.role,
                count=r.count,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                total_tokens=r.total_tokens,
                cost=float(r.cost),
            )
            for r in m.by_role
        ]
        tools = [
            ToolMetrics(
                tool_name=t.tool_name,
                count=t.count,
                error_count=t.error_count,
                error_rate=t.error_rate,
            )
            for t in m.tools
        ]
        return cls(
            turns=m.turns,
            message_count=sum(r.count for r in roles),
            messages_by_role=roles,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            total_tokens=totals.total_tokens,
            cost=float(totals.cost),
            answer_latency_avg_ms=m.answer_latency_avg,
            answer_latency_p95_ms=m.answer_latency_p95,
            tool_call_count=sum(t.count for t in tools),
            tool_calls=tools,
            plan_steps_done=m.steps_done,
            plan_steps_total=m.steps_total,
            plan_completion=m.steps_done / m.steps_total if m.steps_total else None,
            questions_asked=m.questions_asked,
            questions_answered=m.questions_answered,
            waiting_on_user_ms=m.waiting_on_user_ms,
        )
