"""`python main.py demo`: load the sample in resolvers/demo_data.py through the write layer.

Every create carries an id derived from a stable name, so running again finds the rows
instead of duplicating them. The writes that cannot be repeated (ending spans and traces,
moving plan steps, adding a participant) treat CONFLICT as "a previous run did it", and a
finished load is recognised by its last message, so a second run writes nothing.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

from models import Message
from models.base import utcnow
from models.enums import SpanStatus, ToolCallStatus
from resolvers.context import Context
from resolvers.demo_data import (
    CHAT_SETTINGS,
    COMPONENTS,
    CONVERSATIONS,
    MARKER,
    PROVIDERS,
    ConversationSpec,
    Join,
    PlanSpec,
    Ref,
    Send,
    SpanSpec,
    ToolCallSpec,
    TraceSpec,
    Version,
)
from resolvers.errors import Conflict
from resolvers.ids import to_global_id
from resolvers.relations import STEPS_OF_PLAN
from resolvers.writes import chat_settings, components, conversations, messages, plans, traces
from resolvers.writes.commands import (
    ChangeChatSettings,
    CreateConversation,
    CreatePlan,
    EditMessage,
    EndSpan,
    EndTrace,
    NewParticipant,
    NewReference,
    NewStep,
    NewToolCall,
    RegisterComponentVersion,
    SendMessage,
    StartSpan,
    StartTrace,
    UpdateStepStatus,
)

T = TypeVar("T")
NAMESPACE = uuid.UUID("5b0f7a52-3c1e-4d8a-9f61-2e7c4b9d1a30")


def demo_id(type_name: str, key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"demo/{type_name}/{key}")


def gid(type_name: str, key: str) -> str:
    """The global id of a demo row, by its key."""
    return to_global_id(type_name, demo_id(type_name, key))


async def _once(write: Awaitable[object]) -> None:
    """A write that cannot be repeated: CONFLICT means a previous run already made it."""
    with contextlib.suppress(Conflict):
        await write


def _ops() -> Iterator[Any]:
    """Every op of every conversation, answers inside traces included."""
    for conversation in CONVERSATIONS:
        for op in conversation.ops:
            yield op
            if isinstance(op, TraceSpec) and op.answer is not None:
                yield op.answer


def _of(kind: type[T]) -> list[T]:
    return [op for op in _ops() if isinstance(op, kind)]


SPANS = {s.key: (t, s) for t in _of(TraceSpec) for s in t.spans}


def _parts(m: Send) -> list[Any]:
    """Typed parts: reasoning, each tool call and its result, then the text."""
    parts: list[Any] = [{"type": "reasoning", "text": m.reasoning}] if m.reasoning else []
    for c in m.tool_calls:
        parts.append(
            {"type": "tool_call", "callId": c.call_id, "toolName": c.tool, "arguments": c.arguments}
        )
        parts.append(
            {
                "type": "tool_result",
                "callId": c.call_id,
                "result": c.result,
                "isError": c.error is not None,
            }
        )
    return [*parts, {"type": "text", "text": m.content}]


def _reference(r: Ref) -> NewReference:
    return NewReference(
        message_id=demo_id("Message", r.message) if r.message else None,
        span_id=demo_id("Span", r.span) if r.span else None,
        document=r.document,
        title=r.title,
    )


class Demo:
    """One load: the time the sample is anchored to and the server-chosen ids it reuses."""

    def __init__(self, ctx: Context, versions: dict[Version, uuid.UUID]) -> None:
        self.ctx, self.versions, self.anchor = ctx, versions, utcnow()
        self.steps: dict[str, list[uuid.UUID]] = {}

    def at(self, trace: TraceSpec, ms: int) -> datetime:
        return self.anchor - timedelta(minutes=trace.minutes_ago) + timedelta(milliseconds=ms)

    async def conversation(self, spec: ConversationSpec) -> None:
        others = [NewParticipant(participant_id=p, participant_type=t) for p, t in spec.others]
        await conversations.create_conversation(
            self.ctx,
            CreateConversation(
                owner=NewParticipant(participant_id=spec.owner[0], participant_type=spec.owner[1]),
                participants=others,
                id=demo_id("Conversation", spec.key),
                kind=spec.kind,
                title=spec.title,
                tags=list(spec.tags),
                model_name=spec.model_name,
                metadata={"source": "demo"},
            ),
        )
        for op in spec.ops:
            if isinstance(op, Send):
                await self.send(spec.key, op)
            elif isinstance(op, TraceSpec):
                await self.trace(spec.key, op)
            elif isinstance(op, PlanSpec):
                await self.plan(spec.key, op)
            else:
                await self.join(spec.key, op)

    async def send(self, conversation: str, m: Send) -> None:
        content: dict[str, Any] = {
            "id": demo_id("Message", m.key),
            "content": m.content,
            "parts": _parts(m),
            "thinking": m.reasoning,
            "model": m.model,
            "provider": PROVIDERS.get(m.model or ""),
            "input_tokens": m.tokens[0],
            "output_tokens": m.tokens[1],
            "latency_ms": m.latency_ms,
            "attachments": list(m.attachments),
            "tool_calls": [self.tool_call(m, c) for c in m.tool_calls],
            "message_type": m.message_type,
            "confidence": m.confidence,
            "references": [_reference(r) for r in m.references],
        }
        if m.edits is not None:
            await messages.edit_message(
                self.ctx, EditMessage(message_id=demo_id("Message", m.edits), **content)
            )
            return
        parent = demo_id("Message", m.parent) if m.parent else None
        await messages.send_message(
            self.ctx,
            SendMessage(
                conversation_id=demo_id("Conversation", conversation),
                sender_id=m.sender,
                sender_type=m.sender_type,
                role=m.role,
                parent_message_id=parent,
                **content,
            ),
        )

    def tool_call(self, m: Send, c: ToolCallSpec) -> NewToolCall:
        trace, span = SPANS[c.span]
        ended = self.at(trace, span.end_ms) if span.end_ms is not None else None
        return NewToolCall(
            id=demo_id("ToolCall", f"{m.key}/{c.call_id}"),
            call_id=c.call_id,
            tool_name=c.tool,
            arguments=c.arguments,
            result=c.result,
            error=c.error,
            status=ToolCallStatus.FAILED if c.error else ToolCallStatus.COMPLETED,
            started_at=self.at(trace, span.start_ms),
            ended_at=ended,
            span_id=demo_id("Span", c.span),
        )

    async def trace(self, conversation: str, t: TraceSpec) -> None:
        """Spans start before the answer (its tool calls point at them) and end after it."""
        await traces.start_trace(
            self.ctx,
            StartTrace(
                conversation_id=demo_id("Conversation", conversation),
                id=demo_id("Trace", t.key),
                name=t.name,
                user_input=t.user_input,
                user_id=t.user_id,
                session_id=f"demo-{conversation}",
                started_at=self.at(t, 0),
                initial_memory_state=t.memory,
                initial_conversation_state=t.conversation_state,
                system_config=t.config,
            ),
        )
        for span in t.spans:
            await self.start_span(t, span)
        if t.answer is not None:
            await self.send(conversation, t.answer)
        for span in reversed(t.spans):  # children before their parents
            if span.end_ms is not None:
                await _once(self.end_span(t, span))
        root = t.spans[0]
        if root.end_ms is not None:
            answer = t.answer
            await _once(
                traces.end_trace(
                    self.ctx,
                    EndTrace(
                        trace_id=demo_id("Trace", t.key),
                        final_output=answer.content if answer else None,
                        message_id=demo_id("Message", answer.key) if answer else None,
                        ended_at=self.at(t, root.end_ms),
                    ),
                )
            )

    async def start_span(self, t: TraceSpec, s: SpanSpec) -> None:
        step = self.steps[s.step[0]][s.step[1]] if s.step else None
        await traces.start_span(
            self.ctx,
            StartSpan(
                trace_id=demo_id("Trace", t.key),
                name=s.name,
                kind=s.kind,
                id=demo_id("Span", s.key),
                parent_span_id=demo_id("Span", s.parent) if s.parent else None,
                plan_step_id=step,
                started_at=self.at(t, s.start_ms),
                inputs=s.inputs,
                model=s.model,
                provider=PROVIDERS.get(s.model or ""),
                attributes={"agent.trace": t.name},
                component_version_ids=[self.versions[v] for v in s.versions],
            ),
        )

    async def end_span(self, t: TraceSpec, s: SpanSpec) -> None:
        assert s.end_ms is not None
        await traces.end_span(
            self.ctx,
            EndSpan(
                span_id=demo_id("Span", s.key),
                status=SpanStatus.ERROR if s.error else SpanStatus.OK,
                error_details=s.error,
                ended_at=self.at(t, s.end_ms),
                outputs=s.outputs,
                input_tokens=s.tokens[0],
                output_tokens=s.tokens[1],
                message_id=demo_id("Message", t.answer.key)
                if s.writes_answer and t.answer
                else None,
            ),
        )

    async def plan(self, conversation: str, p: PlanSpec) -> None:
        plan = await plans.create_plan(
            self.ctx,
            CreatePlan(
                conversation_id=demo_id("Conversation", conversation),
                id=demo_id("Plan", p.key),
                title=p.title,
                description=p.description,
                message_id=demo_id("Message", p.message),
                steps=[NewStep(description=d, depends_on=list(on)) for d, on in p.steps],
                context={"repo": "acme/search-api", "branch": "feat/rate-limit"},
                max_retries=1,
            ),
        )
        rows = await self.ctx.loaders.rows_by(STEPS_OF_PLAN).load(plan.id)
        self.steps[p.key] = [row.id for row in rows]
        for position, status, result in p.moves:
            step_id = self.steps[p.key][position]
            await _once(
                plans.update_step_status(
                    self.ctx, UpdateStepStatus(step_id=step_id, status=status, result=result)
                )
            )

    async def join(self, conversation: str, j: Join) -> None:
        who = NewParticipant(
            participant_id=j.participant_id, participant_type=j.participant_type, role=j.role
        )
        conversation_id = demo_id("Conversation", conversation)
        await _once(conversations.add_participant(self.ctx, conversation_id, who))


async def _register_components(ctx: Context) -> dict[Version, uuid.UUID]:
    """Content-addressed, so registering the same definitions again changes nothing."""
    versions: dict[Version, uuid.UUID] = {}
    for spec in COMPONENTS:
        for index, definition in enumerate(spec.definitions):
            row = await components.register_version(
                ctx,
                RegisterComponentVersion(
                    component_key=spec.key,
                    type=spec.type,
                    definition=definition,
                ),
            )
            versions[spec.key, index] = row.id
    return versions


def _summary(already: bool) -> str:
    sends = _of(Send)
    calls = sum(len(m.tool_calls) for m in sends)
    steps = sum(len(p.steps) for p in _of(PlanSpec))
    versions = sum(len(c.definitions) for c in COMPONENTS)
    # One short line: `serve --demo` prints it just before uvicorn's lines and the URLs.
    return (
        f"{'The demo was already loaded' if already else 'Loaded the demo'}: "
        f"{len(CONVERSATIONS)} conversations, {len(sends)} messages, {calls} tool calls, "
        f"{steps} plan steps, {len(SPANS)} spans, {versions} component versions"
    )


async def load_demo(ctx: Context) -> str:
    already = await ctx.loaders.by_id(Message).load(demo_id("Message", MARKER)) is not None
    if not already:
        demo = Demo(ctx, await _register_components(ctx))
        await chat_settings.upsert(ctx, "ada", ChangeChatSettings(**CHAT_SETTINGS))
        for spec in CONVERSATIONS:  # the marker message is the very last write
            await demo.conversation(spec)
    return _summary(already)
