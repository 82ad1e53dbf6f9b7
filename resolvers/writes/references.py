"""What a message relies on: messages and spans of its conversation, or external documents.

Every path that writes messages with references (sendMessage, editMessage, ingestion)
checks and stores them here, in the message's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Message, MessageReference, Span, Trace
from models.enums import ReferenceKind
from resolvers import validation
from resolvers.access import visible
from resolvers.errors import BadInput, NotFound
from resolvers.ids import to_global_id
from resolvers.writes.commands import NewReference
from resolvers.writes.transaction import writer

MAX_REFERENCES = 50
MAX_DOCUMENT_LENGTH = 2048


def check_references(references: Sequence[NewReference]) -> None:
    """The checks that need no database, made before the transaction opens."""
    if len(references) > MAX_REFERENCES:
        raise BadInput(
            f"`references` lists {len(references)} references, more than {MAX_REFERENCES}"
        )
    for index, reference in enumerate(references):
        where = f"references[{index}]"
        validation.exactly_one(
            **{
                f"{where}.messageId": reference.message_id,
                f"{where}.spanId": reference.span_id,
                f"{where}.document": reference.document,
            }
        )
        if reference.document is not None:
            validation.not_blank(f"{where}.document", reference.document)
            validation.at_most(f"`{where}.document`", reference.document, MAX_DOCUMENT_LENGTH)
        validation.title(f"`{where}.title`", reference.title)


async def add_references(
    session: AsyncSession, message: Message, references: Sequence[NewReference]
) -> None:
    """Add `references`, shaped as check_references wants (every message write runs it
    first, in check_content), in order, as `message`'s rows.

    A target message or span must belong to the message's conversation (BAD_USER_INPUT
    naming the reference otherwise); one the writer may not see is NOT_FOUND, as for
    get_or_404. At most two statements, whatever the number of references.
    """
    conversations = await _target_conversations(session, references)
    for position, reference in enumerate(references):
        kind, target = _kind_and_target(reference)
        if target is not None:
            if target not in conversations:
                global_id = to_global_id(kind.title(), target)
                raise NotFound(f"{kind.title()} '{global_id}' does not exist")
            if conversations[target] != message.conversation_id:
                raise BadInput(
                    f"`references[{position}]`: its {kind.lower()} belongs to another conversation"
                )
        session.add(
            MessageReference(
                message_id=message.id,
                position=position,
                kind=kind,
                target_message_id=reference.message_id,
                target_span_id=reference.span_id,
                document=reference.document,
                title=reference.title,
            )
        )


def _kind_and_target(reference: NewReference) -> tuple[ReferenceKind, uuid.UUID | None]:
    if reference.message_id is not None:
        return ReferenceKind.MESSAGE, reference.message_id
    if reference.span_id is not None:
        return ReferenceKind.SPAN, reference.span_id
    return ReferenceKind.DOCUMENT, None


async def _target_conversations(
    session: AsyncSession, references: Sequence[NewReference]
) -> dict[uuid.UUID, uuid.UUID]:
    """The conversation of each target message and span the writer may see, by target id."""
    message_ids = {r.message_id for r in references if r.message_id is not None}
    span_ids = {r.span_id for r in references if r.span_id is not None}
    principal = writer(session)
    found: dict[uuid.UUID, uuid.UUID] = {}
    if message_ids:
        rows = await session.exec(
            select(col(Message.id), col(Message.conversation_id)).where(
                col(Message.id).in_(message_ids), *visible(Message, principal)
            )
        )
        found.update(rows.all())
    if span_ids:
        # An alias: the visibility test of spans names `traces` itself, and would
        # otherwise lose its own FROM to the join's.
        trace = aliased(Trace)
        rows = await session.exec(
            select(col(Span.id), col(trace.conversation_id))
            .join(trace, col(trace.id) == col(Span.trace_id))
            .where(col(Span.id).in_(span_ids), *visible(Span, principal))
        )
        found.update(rows.all())
    return found
