"""Settings, read from the environment in this one place."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./threadline.db"
DEFAULT_BROADCAST_URL = "memory://"


@dataclass(frozen=True)
class RetentionOverride:
    """One user's retention, in place of the default (None: the default's)."""

    user_id: str
    trace_days: int | None = None
    archived_days: int | None = None


def retention_overrides(text: str) -> tuple[RetentionOverride, ...]:
    """RETENTION_OVERRIDES: JSON, {"alice": {"traceDays": 7, "archivedDays": 0}, ...}."""
    if not text.strip():
        return ()
    parsed = json.loads(text)
    found = []
    for user_id, days in parsed.items():
        unknown = set(days) - {"traceDays", "archivedDays"}
        if unknown:
            raise ValueError(f"RETENTION_OVERRIDES: unknown keys {sorted(unknown)} for {user_id}")
        found.append(RetentionOverride(user_id, days.get("traceDays"), days.get("archivedDays")))
    return tuple(found)


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
    # Every JSON value that comes in (GraphQL inputs, OTLP attributes): levels of
    # nesting and bytes as compact JSON. Keep the depth well below 255, past which
    # pydantic and orjson refuse to serialise.
    max_json_depth: int = 64
    max_json_bytes: int = 1_048_576
    # Production switches: introspection and the GraphiQL page.
    introspection: bool = True
    graphiql: bool = True
    # Longest a single SQL statement may run (0: no limit).
    statement_timeout_ms: int = 10_000
    # Ingestion: largest OTLP body (as sent, and gunzipped), OTLP requests written at
    # once before more are refused (503), items in one `ingest` mutation.
    otlp_max_body_bytes: int = 16_777_216
    ingest_queue_size: int = 16
    ingest_max_items: int = 1000
    # Data lifecycle: days to keep traces and archived conversations (0: for ever),
    # per-user exceptions, rows deleted per transaction, seconds between two sweeps of
    # the background sweeper (0: none runs), and how long an agent session may wait
    # for the user before it goes STALE (0: for ever).
    retention_trace_days: int = 0
    retention_archived_days: int = 0
    retention_overrides: tuple[RetentionOverride, ...] = ()
    retention_batch_size: int = 1000
    sweep_interval_seconds: float = 60.0
    agent_wait_timeout_seconds: float = 3600.0
    # Slow clients: seconds a connection may take to send a request's head (from its
    # opening, or from the previous response), and a request's body (from its head);
    # seconds an idle keep-alive connection stays open; connections open at once before
    # further HTTP requests are answered 503.
    request_header_timeout_seconds: float = 10.0
    request_body_timeout_seconds: float = 30.0
    keep_alive_timeout_seconds: int = 5
    max_connections: int = 2048

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
            max_json_depth=int(env.get("MAX_JSON_DEPTH", "64")),
            max_json_bytes=int(env.get("MAX_JSON_BYTES", "1048576")),
            introspection=_flag(env.get("INTROSPECTION", "1")),
            graphiql=_flag(env.get("GRAPHIQL", "1")),
            statement_timeout_ms=int(env.get("STATEMENT_TIMEOUT_MS", "10000")),
            otlp_max_body_bytes=int(env.get("OTLP_MAX_BODY_BYTES", "16777216")),
            ingest_queue_size=int(env.get("INGEST_QUEUE_SIZE", "16")),
            ingest_max_items=int(env.get("INGEST_MAX_ITEMS", "1000")),
            retention_trace_days=int(env.get("RETENTION_TRACE_DAYS", "0")),
            retention_archived_days=int(env.get("RETENTION_ARCHIVED_DAYS", "0")),
            retention_overrides=retention_overrides(env.get("RETENTION_OVERRIDES", "")),
            retention_batch_size=int(env.get("RETENTION_BATCH_SIZE", "1000")),
            sweep_interval_seconds=float(env.get("SWEEP_INTERVAL_SECONDS", "60")),
            agent_wait_timeout_seconds=float(env.get("AGENT_WAIT_TIMEOUT_SECONDS", "3600")),
            request_header_timeout_seconds=float(env.get("REQUEST_HEADER_TIMEOUT_SECONDS", "10")),
            request_body_timeout_seconds=float(env.get("REQUEST_BODY_TIMEOUT_SECONDS", "30")),
            keep_alive_timeout_seconds=int(env.get("KEEP_ALIVE_TIMEOUT_SECONDS", "5")),
            max_connections=int(env.get("MAX_CONNECTIONS", "2048")),
        )


def _flag(value: str) -> bool:
    return value.lower() not in {"0", "false", "no", "off"}


def _public_key(env: Mapping[str, str]) -> str | None:
    """The RS256 public key, given inline (AUTH_JWT_PUBLIC_KEY) or as a file path."""
    path = env.get("AUTH_JWT_PUBLIC_KEY_FILE")
    if path:
        return Path(path).read_text()
    return env.get("AUTH_JWT_PUBLIC_KEY") or None
