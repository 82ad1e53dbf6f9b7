"""Who is calling, and what they may do: the result of authentication."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from models.enums import ApiKeyScope
from resolvers.errors import Forbidden

ALL_SCOPES = frozenset(ApiKeyScope)
DEVELOPMENT_USER = "dev"


@dataclass(frozen=True)
class Principal:
    """A user (JWT), an API key acting for the user who made it, or the single user of
    development mode, who may see and do everything.

    A restricted principal sees conversations owned by `user_id` and those in which one
    of its `identities` (the user, and a key's agent) is an active participant.
    """

    user_id: str
    scopes: frozenset[ApiKeyScope] = ALL_SCOPES
    agent_id: str | None = None
    key_id: uuid.UUID | None = None
    unrestricted: bool = False

    @classmethod
    def user(cls, user_id: str) -> Principal:
        return cls(user_id)

    @classmethod
    def development(cls) -> Principal:
        return cls(DEVELOPMENT_USER, unrestricted=True)

    @classmethod
    def nobody(cls) -> Principal:
        """Sees nothing and may do nothing (a request that runs no operation)."""
        return cls("", scopes=frozenset())

    @property
    def identities(self) -> tuple[str, ...]:
        """The participant ids this principal speaks as."""
        if self.agent_id is None or self.agent_id == self.user_id:
            return (self.user_id,)
        return (self.user_id, self.agent_id)

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

    def require_identity(self, participant_id: str, role: str) -> None:
        """Nobody makes someone else the `role` of what they create."""
        if not self.unrestricted and participant_id not in self.identities:
            raise Forbidden(f"the {role} must be you ({', '.join(self.identities)})")

    def require_self(self, user_id: str, what: str) -> None:
        """A user acts only on their own `what` (settings, keys)."""
        if not self.unrestricted and user_id != self.user_id:
            raise Forbidden(f"you can only use your own {what}")
