"""Settings, read from the environment in this one place.

Each setting is declared once: its type, its default, the environment variable that
overrides it and how that variable's text is parsed. `Settings()` is the defaults;
`Settings.from_env()` is the defaults with every variable that is set applied.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, cast

from resolvers.pricing.table import PriceEntry, read_price_file

T = TypeVar("T")
Number = TypeVar("Number", int, float)


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


def _flag(value: str) -> bool:
    return value.lower() not in {"0", "false", "no", "off"}


def _text(value: str) -> str:
    return value


def _optional(value: str) -> str | None:
    """An empty variable is the same as an unset one."""
    return value or None


def _words(value: str) -> tuple[str, ...]:
    """A comma-separated list; blanks around and between items are dropped."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _choice(*allowed: str) -> Callable[[str], str]:
    """One of `allowed`, in any case."""

    def parse(value: str) -> str:
        if value.lower() not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, not {value!r}")
        return value.lower()

    return parse


def _at_least(minimum: Number, kind: Callable[[str], Number]) -> Callable[[str], Number]:
    """A number of `kind` (int, float), refused below `minimum`, and refused if not
    finite: `nan` passes every comparison, and a pool would wait on it wrongly."""

    def parse(value: str) -> Number:
        number = kind(value)
        if not math.isfinite(number) or number < minimum:
            raise ValueError(f"must be a finite number of at least {minimum}, not {number}")
        return number

    return parse


def _setting(default: T, env: str, parse: Callable[[str], T]) -> T:
    """A field with its default, and the variable (parsed by `parse`) that overrides it."""
    return cast(T, field(default=default, metadata={"env": env, "parse": parse}))


@dataclass(frozen=True)
class Settings:
    database_url: str = _setting("sqlite+aiosqlite:///./threadline.db", "DATABASE_URL", _text)
    broadcast_url: str = _setting("memory://", "BROADCAST_URL", _text)
    host: str = _setting("127.0.0.1", "HOST", _text)
    port: int = _setting(8000, "PORT", int)
    # Start-up applies pending Alembic migrations unless told not to (for
    # deployments that migrate in a separate release step).
    auto_migrate: bool = _setting(True, "AUTO_MIGRATE", _flag)
    default_page_size: int = _setting(50, "DEFAULT_PAGE_SIZE", int)
    max_page_size: int = _setting(500, "MAX_PAGE_SIZE", int)
    # A context window asked for with neither limit: its last messages, and its tokens.
    context_window_last_n: int = _setting(10, "CONTEXT_WINDOW_LAST_N", _at_least(1, int))
    context_window_token_budget: int = _setting(
        4000, "CONTEXT_WINDOW_TOKEN_BUDGET", _at_least(1, int)
    )
    log_level: str = _setting("info", "LOG_LEVEL", _text)
    # Events a WebSocket subscriber may fall behind by before it is told to resume.
    subscriber_queue_size: int = _setting(1000, "SUBSCRIBER_QUEUE_SIZE", int)
    # Seconds between two looks at the log for events whose writer committed and died
    # before announcing them (0: none; such events then wait for the next announced one).
    live_recheck_seconds: float = _setting(0.5, "LIVE_RECHECK_SECONDS", float)
    # Subscriptions over HTTP (web/sse.py, web/http_streams.py): seconds between SSE
    # comment heartbeats, and the streams (SSE and multipart) one principal may hold
    # open at once (the development user, the single local user, has no limit).
    sse_heartbeat_seconds: float = _setting(15.0, "SSE_HEARTBEAT_SECONDS", _at_least(0.01, float))
    max_http_streams_per_principal: int = _setting(
        100, "MAX_HTTP_STREAMS_PER_PRINCIPAL", _at_least(1, int)
    )
    # Origins whose browsers may open WebSockets (a non-browser client sends none).
    allowed_origins: tuple[str, ...] = _setting((), "ALLOWED_ORIGINS", _words)
    # Users' JWTs: HS256 with a shared secret and/or RS256 with a public key (PEM, given
    # inline, or as a file by AUTH_JWT_PUBLIC_KEY_FILE, which wins when both are set).
    # With neither, the server runs in single-user development mode on loopback only.
    jwt_secret: str | None = _setting(None, "AUTH_JWT_SECRET", _optional)
    jwt_public_key: str | None = _setting(None, "AUTH_JWT_PUBLIC_KEY", _optional)
    jwt_audience: str | None = _setting(None, "AUTH_JWT_AUDIENCE", _optional)
    jwt_issuer: str | None = _setting(None, "AUTH_JWT_ISSUER", _optional)
    # Limits on what one request may ask for.
    max_query_depth: int = _setting(15, "MAX_QUERY_DEPTH", int)
    max_aliases: int = _setting(50, "MAX_ALIASES", int)
    max_query_tokens: int = _setting(5000, "MAX_QUERY_TOKENS", int)
    max_body_bytes: int = _setting(1_048_576, "MAX_BODY_BYTES", int)
    # Every JSON value that comes in (GraphQL inputs, OTLP attributes): levels of
    # nesting and bytes as compact JSON. Keep the depth well below 255, past which
    # pydantic and orjson refuse to serialise.
    max_json_depth: int = _setting(64, "MAX_JSON_DEPTH", int)
    max_json_bytes: int = _setting(1_048_576, "MAX_JSON_BYTES", int)
    # Production switches: introspection and the GraphiQL page.
    introspection: bool = _setting(True, "INTROSPECTION", _flag)
    graphiql: bool = _setting(True, "GRAPHIQL", _flag)
    # Longest a single SQL statement may run (0: no limit).
    statement_timeout_ms: int = _setting(10_000, "STATEMENT_TIMEOUT_MS", int)
    # The PostgreSQL pool of each process. serve runs every request it accepts at once
    # (up to MAX_CONNECTIONS, 2048) and a request's sibling fields each take a
    # connection: no pool the server allows (max_connections: 100 by default, shared by
    # every process) matches that, so the pool is the cap, and requests past it wait
    # for a connection (DATABASE_POOL_TIMEOUT_SECONDS, then UNAVAILABLE). No overflow:
    # SQLAlchemy closes an overflow connection as soon as it is returned, so a load past
    # the pool opens connection after connection (10 + 10 at 16 clients of the list
    # page: 30-174 new ones per 10 s; 20 + 0: none, and level with PostGraphile, issue
    # 22). Four processes of 20 stay under the server's default. Recycling (0: never)
    # replaces connections past that age, for proxies or failovers that move them.
    database_pool_size: int = _setting(20, "DATABASE_POOL_SIZE", _at_least(1, int))
    database_max_overflow: int = _setting(0, "DATABASE_MAX_OVERFLOW", _at_least(0, int))
    database_pool_recycle_seconds: int = _setting(
        0, "DATABASE_POOL_RECYCLE_SECONDS", _at_least(0, int)
    )
    database_pool_timeout_seconds: float = _setting(
        30.0, "DATABASE_POOL_TIMEOUT_SECONDS", _at_least(0.0, float)
    )
    # Streamed downloads (GET /conversations/{id}/export and /markdown) running at once
    # in a process, past which more are refused (503) rather than queued. Each holds a
    # pooled connection from its first row to its last: seconds for a large
    # conversation, as long as the client takes to read it for a slow one. Unset: a
    # quarter of DATABASE_POOL_SIZE, at least 1 (5 of 20). Downloads are rare and
    # long, /graphql's requests many and short, each of their sibling fields on a
    # connection of its own: three quarters of the pool stay theirs however many clients
    # download. (download_slots is the cap in effect.)
    downloads_max_concurrent: int | None = _setting(
        None, "DOWNLOADS_MAX_CONCURRENT", _at_least(1, int)
    )
    # Ingestion: largest OTLP body (as sent, and gunzipped), OTLP requests written at
    # once before more are refused (503), items in one `ingest` mutation.
    otlp_max_body_bytes: int = _setting(16_777_216, "OTLP_MAX_BODY_BYTES", int)
    ingest_queue_size: int = _setting(16, "INGEST_QUEUE_SIZE", int)
    ingest_max_items: int = _setting(1000, "INGEST_MAX_ITEMS", int)
    # Data lifecycle: days to keep traces and archived conversations (0: for ever),
    # per-user exceptions, rows deleted per transaction, seconds between two sweeps of
    # the background sweeper (0: none runs), how long an agent session may wait for
    # the user before it goes STALE, and how long an ACTIVE one may go without a word
    # from its agent before it FAILS (0: for ever).
    retention_trace_days: int = _setting(0, "RETENTION_TRACE_DAYS", int)
    retention_archived_days: int = _setting(0, "RETENTION_ARCHIVED_DAYS", int)
    retention_overrides: tuple[RetentionOverride, ...] = _setting(
        (), "RETENTION_OVERRIDES", retention_overrides
    )
    retention_batch_size: int = _setting(1000, "RETENTION_BATCH_SIZE", int)
    sweep_interval_seconds: float = _setting(60.0, "SWEEP_INTERVAL_SECONDS", float)
    agent_wait_timeout_seconds: float = _setting(
        300.0, "AGENT_WAIT_TIMEOUT_SECONDS", _at_least(0.0, float)
    )
    agent_stream_timeout_seconds: float = _setting(
        300.0, "AGENT_STREAM_TIMEOUT_SECONDS", _at_least(0.0, float)
    )
    # Prices of model calls that extend or replace the built-in table (resolvers.pricing):
    # PRICES_FILE names a JSON list of entries, read here, so a bad one stops the start.
    prices: tuple[PriceEntry, ...] = _setting((), "PRICES_FILE", read_price_file)
    # Slow clients: seconds a connection may take to send a request's head (from its
    # opening, or from the previous response), and a request's body (from its head);
    # seconds an idle keep-alive connection stays open; connections open at once before
    # further HTTP requests are answered 503.
    request_header_timeout_seconds: float = _setting(10.0, "REQUEST_HEADER_TIMEOUT_SECONDS", float)
    request_body_timeout_seconds: float = _setting(30.0, "REQUEST_BODY_TIMEOUT_SECONDS", float)
    keep_alive_timeout_seconds: int = _setting(5, "KEEP_ALIVE_TIMEOUT_SECONDS", int)
    # graphql-transport-ws heartbeat: seconds between the server's {"type": "ping"}
    # messages on an acknowledged socket; a socket whose client has not answered one
    # with a pong by the next is closed with 4408 (0: no pings).
    ws_ping_interval_seconds: float = _setting(
        15.0, "WS_PING_INTERVAL_SECONDS", _at_least(0.0, float)
    )
    max_connections: int = _setting(2048, "MAX_CONNECTIONS", int)
    # Operations (README "Operations"): GET /metrics is served with METRICS=on, not
    # with off; auto (the default) serves it in development mode, and with
    # authentication on only when METRICS_TOKEN is set, which it then requires as a
    # bearer token (in every mode). METRICS=on with authentication on and no token is
    # refused. LOG_FORMAT: text, or json (one object a line).
    metrics: str = _setting("auto", "METRICS", _choice("auto", "on", "off"))
    metrics_token: str | None = _setting(None, "METRICS_TOKEN", _optional)
    log_format: str = _setting("text", "LOG_FORMAT", _choice("text", "json"))

    def __post_init__(self) -> None:
        # /metrics shares the API's port: with authentication on, served without a token
        # it would tell anyone what the API is asked and by whom.
        if self.metrics == "on" and self.auth_enabled and self.metrics_token is None:
            raise ValueError(
                "METRICS=on with authentication on would serve /metrics to anyone on the "
                "API's port: set METRICS_TOKEN (sent as a bearer token), or METRICS=off"
            )

    @property
    def auth_enabled(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key)

    @property
    def metrics_served(self) -> bool:
        """Whether GET /metrics answers (METRICS, METRICS_TOKEN)."""
        if self.metrics == "auto":
            return not self.auth_enabled or self.metrics_token is not None
        return self.metrics == "on"

    @property
    def download_slots(self) -> int:
        """Streamed downloads a process runs at once (DOWNLOADS_MAX_CONCURRENT)."""
        return self.downloads_max_concurrent or max(1, self.database_pool_size // 4)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The defaults, with each setting whose variable is set (even empty) parsed from it."""
        env = os.environ if env is None else env
        given: dict[str, Any] = {
            f.name: _parsed(f.metadata["env"], env[f.metadata["env"]], f.metadata["parse"])
            for f in fields(cls)
            if f.metadata["env"] in env
        }
        key_file = env.get("AUTH_JWT_PUBLIC_KEY_FILE")
        if key_file:
            given["jwt_public_key"] = Path(key_file).read_text()
        return cls(**given)


def _parsed(env: str, value: str, parse: Callable[[str], T]) -> T:
    """`value` parsed; a value refused names its variable (in a note: some parsers'
    messages name it already)."""
    try:
        return parse(value)
    except ValueError as exc:
        exc.add_note(f"in {env}")
        raise
