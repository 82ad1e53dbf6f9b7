"""The `ingest` mutation: a batch of mixed writes, each applied as its own mutation would.

The batch is one transaction and each item a savepoint in it: an item that fails is
rolled back alone (its events unpublished), the others commit together. Each item
calls the write function of its mutation with the same command, so rules, checks and
events are theirs.
A receipt per successful item (IngestReceipt) makes a re-sent item return its first
result; a failed item leaves none, so sending it again tries it again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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
from resolvers.writes import agent_commands as agent
from resolvers.writes import agent_stream, conversations, messages, plans, traces
from resolvers.writes import commands as cmd
from resolvers.writes.transaction import conflict, transaction

Write = Callable[[Context, Any], Awaitable[Any]]
# Per command: the write function of its mutation and the type of the row it returns.
WRITES: dict[type, tuple[Write, str]] = {
    cmd.CreateConversation: (conversations.create_conversation, "Conversation"),
    cmd.SendMessage: (messages.send_message, "Message"),
    agent.ReportToolStart: (agent_stream.report_tool_start, "ToolCall"),
    agent.ReportToolEnd: (agent_stream.report_tool_end, "ToolCall"),
    cmd.StartTrace: (traces.start_trace, "Trace"),
    cmd.EndTrace: (traces.end_trace, "Trace"),
    cmd.StartSpan: (traces.start_span, "Span"),
    cmd.EndSpan: (traces.end_span, "Span"),
    cmd.UpdateStepStatus: (plans.update_step_status, "PlanStep"),
    agent.AppendAnswerChunk: (agent_stream.append_answer_chunk, "Message"),
    agent.ReportThought: (agent_stream.report_thought, "Message"),
}


@dataclass(frozen=True)
class Item:
    """One item of a batch: its client event id, and its command (one of WRITES'), decoded
    only when the item is applied: an item that does not decode (BadInput) fails alone."""

    client_event_id: str
    command: Callable[[], object]


@dataclass(frozen=True)
class ItemResult:
    index: int
    client_event_id: str
    # The global id of the row the item wrote, or the error that stopped it.
    node_id: str | None = None
    error: ThreadlineError | None = None


async def ingest(ctx: Context, items: list[Item]) -> list[ItemResult]:
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
    item: Item,
    done: dict[str, str],
) -> ItemResult:
    client_id = item.client_event_id
    if client_id in done:
        return ItemResult(index, client_id, node_id=done[client_id])
    try:
        data = item.command()
        write, type_name = WRITES[type(data)]
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
