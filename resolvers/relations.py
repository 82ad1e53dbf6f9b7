"""How each nested list of the graph is read: the parent key, the join, the order.

Every nested field goes through one of these, batched by a DataLoader, so a
deep query costs one statement per level, not one per row.
"""

from __future__ import annotations

from sqlmodel import col

from models import (
    AgentSession,
    ComponentVersion,
    Message,
    MessageReference,
    Participant,
    Plan,
    PlanStep,
    Span,
    SpanComponentVersion,
    StepDependency,
    ToolCall,
    Trace,
)
from models.event import OPEN_SESSION_STATUSES
from resolvers.pagination import Ordering, Relation


def by_seq(descending: bool = False) -> Ordering:
    return Ordering(Message.seq, Message.id, descending)


def spans_by_start() -> Ordering:
    return Ordering(Span.started_at, Span.id)


def steps_in_order() -> Ordering:
    return Ordering(PlanStep.position, PlanStep.id)


PARTICIPANTS_OF_CONVERSATION = Relation(
    Participant,
    Participant.conversation_id,
    Ordering(Participant.joined_at, Participant.id),
)
MESSAGES_OF_CONVERSATION = Relation(Message, Message.conversation_id, by_seq())
MESSAGES_OF_CONVERSATION_NEWEST_FIRST = Relation(
    Message, Message.conversation_id, by_seq(descending=True)
)
CHILDREN_OF_MESSAGE = Relation(Message, Message.parent_message_id, by_seq())
TOOL_CALLS_OF_MESSAGE = Relation(
    ToolCall, ToolCall.message_id, Ordering(ToolCall.position, ToolCall.id)
)
# Targets are read through the by-id loaders, which check the reader may see them.
REFERENCES_OF_MESSAGE = Relation(
    MessageReference,
    MessageReference.message_id,
    Ordering(MessageReference.position, MessageReference.message_id),
)
TOOL_CALLS_OF_SPAN = Relation(ToolCall, ToolCall.span_id, Ordering(ToolCall.position, ToolCall.id))
PLANS_OF_CONVERSATION = Relation(Plan, Plan.conversation_id, Ordering(Plan.created_at, Plan.id))
TRACES_OF_CONVERSATION = Relation(
    Trace, Trace.conversation_id, Ordering(Trace.started_at, Trace.id)
)
TRACES_OF_MESSAGE = Relation(Trace, Trace.message_id, Ordering(Trace.started_at, Trace.id))
SPANS_OF_MESSAGE = Relation(
    Span, Trace.message_id, spans_by_start(), joins=((Trace, Trace.id == Span.trace_id),)
)
STEPS_OF_PLAN = Relation(PlanStep, PlanStep.plan_id, steps_in_order())
DEPENDENCIES_OF_STEP = Relation(
    PlanStep,
    StepDependency.step_id,
    steps_in_order(),
    joins=((StepDependency, StepDependency.depends_on_step_id == PlanStep.id),),
)
DEPENDENTS_OF_STEP = Relation(
    PlanStep,
    StepDependency.depends_on_step_id,
    steps_in_order(),
    joins=((StepDependency, StepDependency.step_id == PlanStep.id),),
)
SPANS_OF_STEP = Relation(Span, Span.plan_step_id, spans_by_start())
SPANS_OF_TRACE = Relation(Span, Span.trace_id, spans_by_start())
ROOT_SPANS_OF_TRACE = Relation(
    Span, Span.trace_id, spans_by_start(), where=(col(Span.parent_span_id).is_(None),)
)
CHILDREN_OF_SPAN = Relation(Span, Span.parent_span_id, spans_by_start())
VERSIONS_OF_SPAN = Relation(
    ComponentVersion,
    SpanComponentVersion.span_id,
    Ordering(ComponentVersion.created_at, ComponentVersion.id),
    joins=(
        (SpanComponentVersion, SpanComponentVersion.component_version_id == ComponentVersion.id),
    ),
    # Another user's private versions are not shared.
    checks_access=True,
)
SPANS_OF_VERSION = Relation(
    Span,
    SpanComponentVersion.component_version_id,
    spans_by_start(),
    joins=((SpanComponentVersion, SpanComponentVersion.span_id == Span.id),),
    checks_access=True,
)
VERSIONS_OF_COMPONENT = Relation(
    ComponentVersion,
    ComponentVersion.component_id,
    Ordering(ComponentVersion.version_number, ComponentVersion.id),
)
AGENT_SESSIONS_OF_CONVERSATION = Relation(
    AgentSession,
    AgentSession.conversation_id,
    Ordering(AgentSession.started_at, AgentSession.id, descending=True),
)
# At most one row per conversation (a partial unique index): the session running now.
OPEN_AGENT_SESSION_OF_CONVERSATION = Relation(
    AgentSession,
    AgentSession.conversation_id,
    Ordering(AgentSession.started_at, AgentSession.id),
    where=(col(AgentSession.status).in_(OPEN_SESSION_STATUSES),),
)
