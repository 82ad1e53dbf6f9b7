"""The `ingest` mutation: a batch of mixed writes, each applied as its own mutation would.

The batch is one transaction and each item a savepoint in it: an item that fails is
rolled back alone (its events unpublished), the others commit together. Each item
calls the write function of its mutation, so rules, checks and events are theirs.
A receipt per successful item (IngestReceipt) makes a re-sent item return its first
result; a failed item leaves none, so sending it again tries it again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import IngestReceipt
from models.enums import ApiKeyScope
from resolvers import validation
from resolvers.context import Context
from resolvers.errors import BadInput, ThreadlineError
from resolvers.events import kept_on_success
from resolvers.ids import to_global_id
from resolvers.writes import agent_stream, conversations, messages, plans, traces
from resolvers.writes.transaction import conflict, transaction
from schema.ingest_inputs import IngestItem

Write = Callable[[Context, Any], Awaitable[Any]]
# Per item field (and, for a choice, its own field): the mutation's write function and
# the GraphQL type of the row it returns.
WRITES: dict[str, tuple[Write, str]] = {
    "conversation": (conversations.create_conversation, "Conversation"),
    "message": (messages.send_message, "Message"),
    "tool_call.start": (agent_stream.report_tool_start, "ToolCall"),
    "tool_call.end": (agent_stream.report_tool_end, "ToolCall"),
    "trace.start": (traces.start_trace, "Trace"),
    "trace.end": (traces.end_trace, "Trace"),
    "span.start": (traces.start_span, "Span"),
    "span.end": (traces.end_span, "Span"),
    "step_status": (plans.update_step_status, "PlanStep"),
    "event.answer_chunk": (agent_stream.append_answer_chunk, "Message"),
    "event.thought": (agent_stream.report_thought, "Message"),
}


@dataclass(frozen=True)
class ItemResult:
    index: int
    client_event_id: str
    # The global id of the row the item wrote, or the error that stopped it.
    node_id: str | None = None
    error: ThreadlineError | None = None


async def ingest(ctx: Context, items: list[IngestItem]) -> list[ItemResult]:
    limit = ctx.settings.ingest_max_items
    if len(items) > limit:
        raise BadInput(f"a batch holds at most {limit} items (INGEST_MAX_ITEMS), not {len(items)}")
    for item in items:
        validation.not_blank("clientEventId", item.client_event_id)
    owner = ctx.principal.user_id
    async with transaction(ctx, ApiKeyScope.INGEST) as session:
        done = await _receipts(session, owner, [item.client_event_id for item in items])
        in_batch = dataclasses.replace(ctx, batch_session=session)
        return [
            await _apply(in_batch, session, owner, index, item, done)
            for index, item in enumerate(items)
        ]


async def _receipts(session: AsyncSession, owner: str, client_ids: list[str]) -> dict[str, str]:
    """The node ids of the items applied already, by client event id: one query."""
    if not client_ids:
        return {}
    rows = await session.exec(
        select(col(IngestReceipt.client_event_id), col(IngestReceipt.node_id)).where(
            col(IngestReceipt.owner_id) == owner,
            col(IngestReceipt.client_event_id).in_(set(client_ids)),
        )
    )
    return dict(rows.all())


async def _apply(
    ctx: Context,
    session: AsyncSession,
    owner: str,
    index: int,
    item: IngestItem,
    done: dict[str, str],
) -> ItemResult:
    client_id = item.client_event_id
    if client_id in done:
        return ItemResult(index, client_id, node_id=done[client_id])
    try:
        write, type_name, data = _write_of(item)
        with kept_on_success(session):
            async with session.begin_nested():
                row = await write(ctx, data)
                # Now: a later item's rolled-back savepoint may expire the row.
                node_id = to_global_id(type_name, row.id)
                await session.exec(
                    insert(IngestReceipt).values(
                        owner_id=owner, client_event_id=client_id, node_id=node_id
                    )
                )
    except IntegrityError as exc:
        return ItemResult(index, client_id, error=conflict(exc))
    except ThreadlineError as exc:
        return ItemResult(index, client_id, error=exc)
    done[client_id] = node_id
    return ItemResult(index, client_id, node_id=node_id)


def _write_of(item: IngestItem) -> tuple[Write, str, Any]:
    """The write the item asks for, the type of the row it returns, and its input."""
    choices = {
        field.name: getattr(item, field.name)
        for field in dataclasses.fields(item)
        if field.name != "client_event_id"
    }
    validation.exactly_one(**{_camel(name): value for name, value in choices.items()})
    name, data = next((name, value) for name, value in choices.items() if value is not None)
    if name not in WRITES:
        # A choice between two inputs (start or end...): GraphQL's @oneOf set one.
        [(inner, data)] = _given(data).items()
        name = f"{name}.{inner}"
    write, type_name = WRITES[name]
    return write, type_name, data


def _given(choice: Any) -> dict[str, Any]:
    """The fields of an input object that were sent and are not null."""
    values = {field.name: getattr(choice, field.name) for field in dataclasses.fields(choice)}
    return {name: v for name, v in values.items() if v is not None and v is not strawberry.UNSET}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
