"""Who is calling, and what they may do: the result of authentication."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from models.enums import ApiKeyScope, ParticipantType
from resolvers.errors import Forbidden

ALL_SCOPES = frozenset(ApiKeyScope)
DEVELOPMENT_USER = "dev"


@dataclass(frozen=True, order=True)
class Identity:
    """Who a participant is: a user or an agent, never a bare id that could be either
    (a user "alice" and an agent "alice" are two different parties)."""

    type: ParticipantType
    id: str

    def __str__(self) -> str:
        return f"{self.type.value} {self.id}"


@dataclass(frozen=True)
class Principal:
    """A user (JWT), an API key acting for the user who made it, or the single user of
    development mode, who may see and do everything.

    A restricted principal sees conversations owned by one of its `identities` (the
    user, and a key's agent) and those in which one of them is an active participant.
    """

    user_id: str
    scopes: frozenset[ApiKeyScope] = ALL_SCOPES
    agent_id: str | None = None
    key_id: uuid.UUID | None = None
    unrestricted: bool = False
    # When the credential stops being valid (a JWT's `exp`); None: it does not expire.
    expires_at: datetime | None = None

    @classmethod
    def user(cls, user_id: str, expires_at: datetime | None = None) -> Principal:
        return cls(user_id, expires_at=expires_at)

    @classmethod
    def development(cls) -> Principal:
        return cls(DEVELOPMENT_USER, unrestricted=True)

    @classmethod
    def nobody(cls) -> Principal:
        """Sees nothing and may do nothing (a request that runs no operation)."""
        return cls("", scopes=frozenset())

    @property
    def identities(self) -> tuple[Identity, ...]:
        """The participants this principal is: its user, and a key's agent."""
        user = Identity(ParticipantType.USER, self.user_id)
        if self.agent_id is None:
            return (user,)
        return (user, Identity(ParticipantType.AGENT, self.agent_id))

    def is_one_of_mine(self, identity: Identity) -> bool:
        return self.unrestricted or identity in self.identities

    @property
    def is_key(self) -> bool:
        return self.key_id is not None

    def require(self, scope: ApiKeyScope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this API key lacks the {scope.value} scope", scope=scope.value)

    def require_user(self, action: str) -> None:
        """Some things only a person may do (an API key cannot make more keys)."""
        if self.is_key:
            raise Forbidden(f"an API key cannot {action}; sign in as a user")

    def require_identity(self, identity: Identity, role: str) -> None:
        """Nobody makes someone else the `role` of what they create or say."""
        if not self.is_one_of_mine(identity):
            yours = " or ".join(map(str, self.identities))
            raise Forbidden(f"the {role} must be you ({yours}), not {identity}")

    def require_self(self, user_id: str, what: str) -> None:
        """A user acts only on their own `what` (settings, keys)."""
        if not self.unrestricted and user_id != self.user_id:
            raise Forbidden(f"you can only use your own {what}")
