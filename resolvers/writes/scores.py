"""Adding, changing and deleting scores; each locks the scored conversation."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

import models
from models import Score, Trace
from models.base import utcnow
from models.enums import ScoreKind, ScoreTarget
from resolvers import validation
from resolvers.context import Context
from resolvers.errors import BadInput
from resolvers.permissions import Action
from resolvers.principal import Identity
from resolvers.scores import TARGET_KEYS
from resolvers.writes import agent_identities
from resolvers.writes.commands import AddScore, UpdateScore, given
from resolvers.writes.conversations import lock_conversation, require_own_words
from resolvers.writes.transaction import get_or_404, transaction

# What a score may be about, by the type name inside the target's global id.
TARGETS: dict[str, tuple[ScoreTarget, Any]] = {
    type_name: (target, getattr(models, type_name))
    for target, (type_name, _column) in TARGET_KEYS.items()
}


def check_value(kind: ScoreKind, value: float | None, label: str | None) -> None:
    """Each kind carries exactly what it is read by: a value or a label."""
    if kind == ScoreKind.CATEGORICAL:
        if value is not None or label is None or not label.strip():
            raise BadInput("a CATEGORICAL score has a `label` and no `value`")
        return
    if label is not None or value is None or not validation.finite(value):
        raise BadInput(f"a {kind} score has a finite `value` and no `label`")
    if kind == ScoreKind.BOOLEAN and value not in (0.0, 1.0):
        raise BadInput(f"a BOOLEAN score's `value` is 1 (true) or 0 (false), not {value}")


async def _conversation_of(session: AsyncSession, target: ScoreTarget, row: Any) -> uuid.UUID:
    if target == ScoreTarget.CONVERSATION:
        return uuid.UUID(str(row.id))
    if target == ScoreTarget.SPAN:
        row = await get_or_404(session, Trace, row.trace_id)
    return uuid.UUID(str(row.conversation_id))


async def add_score(ctx: Context, data: AddScore) -> Score:
    validation.not_blank("name", data.name)
    validation.not_blank("author", data.author)
    check_value(data.kind, data.value, data.label)
    type_name, target_id = data.target_type, data.target_id
    if type_name not in TARGETS:
        raise BadInput(f"a {type_name} cannot be scored; score a {', '.join(TARGETS)}")
    target, model = TARGETS[type_name]
    async with transaction(ctx) as session:
        row = await get_or_404(session, model, target_id)
        conversation_id = await _conversation_of(session, target, row)
        # Scoring is writing: observers may not, and scores of a conversation queue.
        await lock_conversation(session, conversation_id, Action.SCORE)
        author = Identity(data.author_type, data.author or ctx.principal.user_id)
        await agent_identities.require_speaker(session, ctx.principal, author)
        score = Score(
            conversation_id=conversation_id,
            target=target,
            name=data.name,
            kind=data.kind,
            value=data.value,
            label=data.label,
            comment=data.comment,
            source=data.source,
            author_id=author.id,
            author_type=author.type,
        )
        # The target's key; a conversation score's is conversation_id itself.
        setattr(score, TARGET_KEYS[target][1], target_id)
        session.add(score)
    return score


async def _locked_score(session: AsyncSession, score_id: uuid.UUID, others: Action) -> Score:
    """The score, its conversation locked; a score of somebody else's needs `others`."""
    score = await get_or_404(session, Score, score_id)
    await lock_conversation(session, score.conversation_id, Action.EDIT_OWN)
    author = Identity(score.author_type, score.author_id)
    await require_own_words(session, score.conversation_id, [author], others)
    return score


async def update_score(ctx: Context, score_id: uuid.UUID, data: UpdateScore) -> Score:
    changes = given(data)
    async with transaction(ctx) as session:
        # Nobody changes what somebody else said, owners included.
        score = await _locked_score(session, score_id, Action.NOBODY)
        value = changes.get("value", score.value)
        label = changes.get("label", score.label)
        check_value(score.kind, value, label)
        score.value, score.label = value, label
        score.comment = changes.get("comment", score.comment)
        score.updated_at = utcnow()
        session.add(score)
    return score


async def delete_score(ctx: Context, score_id: uuid.UUID) -> Score:
    async with transaction(ctx) as session:
        score = await _locked_score(session, score_id, Action.MODERATE)
        await session.delete(score)
    return score
