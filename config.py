"""Settings, read from the environment in this one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            broadcast_url=env.get("BROADCAST_URL", DEFAULT_BROADCAST_URL),
            host=env.get("HOST", "127.0.0.1"),
            port=int(env.get("PORT", "8000")),
            auto_migrate=env.get("AUTO_MIGRATE", "1").lower() not in {"0", "false", "no"},
            default_page_size=int(env.get("DEFAULT_PAGE_SIZE", "50")),
            max_page_size=int(env.get("MAX_PAGE_SIZE", "500")),
            log_level=env.get("LOG_LEVEL", "info"),
            subscriber_queue_size=int(env.get("SUBSCRIBER_QUEUE_SIZE", "1000")),
            allowed_origins=tuple(
                o.strip() for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip()
            ),
        )
