"""Authentication: a credential (JWT or API key) becomes a Principal, or UNAUTHENTICATED.

API keys are looked up on every request, so a revoked key stops working at once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jwt
from sqlalchemy import select
from sqlmodel import col

from config import Settings
from models import ApiKey
from models.base import utcnow
from models.enums import ApiKeyScope
from resolvers import validation
from resolvers.db import Database
from resolvers.errors import BadInput, Unauthenticated
from resolvers.principal import Principal

KEY_PREFIX = "tl_"
# Shown in listings: enough to tell keys apart, far too little to guess the rest.
SHOWN_CHARACTERS = len(KEY_PREFIX) + 8


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def shown_prefix(secret: str) -> str:
    return secret[:SHOWN_CHARACTERS]


def credential_from(headers: Mapping[str, str]) -> str | None:
    """The credential a request carries: `Authorization: Bearer ...` or `X-API-Key`."""
    api_key = headers.get("x-api-key")
    if api_key:
        return api_key.strip()
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if authorization:
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    return None


async def authenticate(credential: str | None, settings: Settings, database: Database) -> Principal:
    if credential is None:
        if settings.auth_enabled:
            raise Unauthenticated(
                "authentication required: send `Authorization: Bearer <JWT or API key>`"
            )
        return Principal.development()
    if credential.startswith(KEY_PREFIX):
        return await _key_principal(credential, database)
    return _user_principal(credential, settings)


async def _key_principal(secret: str, database: Database) -> Principal:
    key = await _key_where(database, col(ApiKey.secret_hash) == secret_hash(secret))
    _check_usable(key)
    assert key is not None
    return Principal(
        user_id=key.owner_id,
        scopes=frozenset(ApiKeyScope(s) for s in key.scopes),
        agent_id=key.agent_id,
        key_id=key.id,
        expires_at=None if key.expires_at is None else _aware(key.expires_at),
    )


async def ensure_may_listen(principal: Principal, database: Database) -> None:
    """A subscription starting on a long-lived connection: its API key must still work
    now, and have the READ scope."""
    principal.require(ApiKeyScope.READ)
    if principal.key_id is not None:
        _check_usable(await _key_where(database, col(ApiKey.id) == principal.key_id))


async def _key_where(database: Database, condition: Any) -> ApiKey | None:
    async with database.row_sessions() as session:
        found: ApiKey | None = (
            await session.execute(select(ApiKey).where(condition))
        ).scalar_one_or_none()
    return found


def _check_usable(key: ApiKey | None) -> None:
    if key is None:
        raise Unauthenticated("unknown API key")
    if key.revoked_at is not None:
        raise Unauthenticated("this API key has been revoked")
    if key.expires_at is not None and _aware(key.expires_at) <= utcnow():
        raise Unauthenticated("this API key has expired")


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they are stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


def _user_principal(token: str, settings: Settings) -> Principal:
    if not settings.auth_enabled:
        raise Unauthenticated("this server has no JWT sign-in configured; use an API key")
    try:
        algorithm = str(jwt.get_unverified_header(token).get("alg"))
    except jwt.InvalidTokenError:
        raise Unauthenticated("the token is not a JWT") from None
    # Each algorithm only with its own kind of key: no HS256 token signed with the public key.
    keys = {"HS256": settings.jwt_secret, "RS256": settings.jwt_public_key}
    key = keys.get(algorithm)
    if key is None:
        raise Unauthenticated(f"tokens signed with {algorithm!r} are not accepted here")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from None
    return Principal.user(_subject(claims["sub"]), datetime.fromtimestamp(claims["exp"], UTC))


def _subject(subject: object) -> str:
    """The user a token names: an identifier that both databases can store (PostgreSQL
    refuses NUL in text, an index entry past a few kilobytes...), as any user id."""
    what = "the token's subject (`sub`)"
    if not isinstance(subject, str) or not subject.strip():
        raise Unauthenticated(f"{what} must name the user")
    try:
        validation.storable_text(what, subject)
        validation.identifier(what, subject)
    except BadInput as exc:
        raise Unauthenticated(exc.message) from None
    return subject
