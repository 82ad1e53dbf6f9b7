"""Creating and revoking API keys: only a signed-in user, for themselves."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import ApiKey
from models.base import utcnow
from models.enums import ApiKeyScope
from resolvers import validation
from resolvers.context import Context
from resolvers.credentials import new_secret, secret_hash, shown_prefix
from resolvers.errors import BadInput, Conflict
from resolvers.writes import agent_identities
from resolvers.writes.transaction import get_or_404, transaction

# Keys are for programs; a person with hundreds of live keys has lost track of them.
MAX_ACTIVE_KEYS = 100


async def create_api_key(
    ctx: Context,
    name: str,
    scopes: Sequence[ApiKeyScope],
    agent_id: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """The new key and its secret, which is shown this once and never stored."""
    ctx.principal.require_user("create API keys")
    validation.not_blank("name", name)
    if agent_id is not None:
        validation.not_blank("agentId", agent_id)
    if not scopes:
        raise BadInput("`scopes` must name at least one of READ, WRITE, INGEST")
    if expires_at is not None and expires_at <= utcnow():
        raise BadInput("`expiresAt` must be in the future")
    secret = new_secret()
    async with transaction(ctx) as session:
        await _one_at_a_time(session, ctx.principal.user_id)
        active = await session.exec(
            select(func.count()).where(
                col(ApiKey.owner_id) == ctx.principal.user_id, col(ApiKey.revoked_at).is_(None)
            )
        )
        if active.one() >= MAX_ACTIVE_KEYS:
            raise Conflict(f"you have {MAX_ACTIVE_KEYS} active keys; revoke one first")
        if agent_id is not None:
            await agent_identities.require_own_agent(session, ctx.principal, agent_id)
        key = ApiKey(
            owner_id=ctx.principal.user_id,
            name=name,
            agent_id=agent_id,
            prefix=shown_prefix(secret),
            secret_hash=secret_hash(secret),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
        session.add(key)
    return key, secret


async def _one_at_a_time(session: AsyncSession, user_id: str) -> None:
    """A user's key creations take turns, so that concurrent ones cannot all count the
    same active keys and pass the limit together. (On SQLite a writer whose read is stale
    is refused by the database.)"""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.exec(select(func.pg_advisory_xact_lock(func.hashtext(user_id))))


async def revoke_api_key(ctx: Context, key_id: uuid.UUID) -> ApiKey:
    """Revoked at once: HTTP requests with it fail from now on, and its subscriptions end."""
    ctx.principal.require_user("revoke API keys")
    async with transaction(ctx) as session:
        key = await get_or_404(session, ApiKey, key_id, lock=True)
        if key.revoked_at is not None:
            raise Conflict("this API key is already revoked")
        key.revoked_at = utcnow()
    if ctx.bus is not None:
        await ctx.bus.announce_revoked_key(key.id)
    return key
