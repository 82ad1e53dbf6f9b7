"""Settings, read from the environment in this one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./threadline.db"
DEFAULT_BROADCAST_URL = "memory://"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    broadcast_url: str = DEFAULT_BROADCAST_URL
    host: str = "127.0.0.1"
    port: int = 8000
    # Start-up applies pending Alembic migrations unless told not to (for
    # deployments that migrate in a separate release step).
    auto_migrate: bool = True
    default_page_size: int = 50
    max_page_size: int = 500
    log_level: str = "info"
    # Events a WebSocket subscriber may fall behind by before it is told to resume.
    subscriber_queue_size: int = 1000
    # Origins whose browsers may open WebSockets (a non-browser client sends none).
    allowed_origins: tuple[str, ...] = ()
    # Users' JWTs: HS256 with a shared secret and/or RS256 with a public key (PEM).
    # With neither, the server runs in single-user development mode on loopback only.
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    # Limits on what one request may ask for.
    max_query_depth: int = 15
    max_aliases: int = 50
    max_query_tokens: int = 5000
    max_body_bytes: int = 1_048_576
    # Production switches: introspection and the GraphiQL page.
    introspection: bool = True
    graphiql: bool = True
    # Longest a single SQL statement may run (0: no limit).
    statement_timeout_ms: int = 10_000

    @property
    def auth_enabled(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            broadcast_url=env.get("BROADCAST_URL", DEFAULT_BROADCAST_URL),
            host=env.get("HOST", "127.0.0.1"),
            port=int(env.get("PORT", "8000")),
            auto_migrate=_flag(env.get("AUTO_MIGRATE", "1")),
            default_page_size=int(env.get("DEFAULT_PAGE_SIZE", "50")),
            max_page_size=int(env.get("MAX_PAGE_SIZE", "500")),
            log_level=env.get("LOG_LEVEL", "info"),
            subscriber_queue_size=int(env.get("SUBSCRIBER_QUEUE_SIZE", "1000")),
            allowed_origins=tuple(
                o.strip() for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip()
            ),
            jwt_secret=env.get("AUTH_JWT_SECRET") or None,
            jwt_public_key=_public_key(env),
            jwt_audience=env.get("AUTH_JWT_AUDIENCE") or None,
            jwt_issuer=env.get("AUTH_JWT_ISSUER") or None,
            max_query_depth=int(env.get("MAX_QUERY_DEPTH", "15")),
            max_aliases=int(env.get("MAX_ALIASES", "50")),
            max_query_tokens=int(env.get("MAX_QUERY_TOKENS", "5000")),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", "1048576")),
            introspection=_flag(env.get("INTROSPECTION", "1")),
            graphiql=_flag(env.get("GRAPHIQL", "1")),
            statement_timeout_ms=int(env.get("STATEMENT_TIMEOUT_MS", "10000")),
        )


def _flag(value: str) -> bool:
    return value.lower() not in {"0", "false", "no", "off"}


def _public_key(env: Mapping[str, str]) -> str | None:
    """The RS256 public key, given inline (AUTH_JWT_PUBLIC_KEY) or as a file path."""
    path = env.get("AUTH_JWT_PUBLIC_KEY_FILE")
    if path:
        return Path(path).read_text()
    return env.get("AUTH_JWT_PUBLIC_KEY") or None
