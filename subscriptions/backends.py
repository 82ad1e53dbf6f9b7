"""Broadcast backends by URL: memory://, redis://, postgres://."""

from __future__ import annotations

from broadcaster import Broadcast


def create_broadcast(url: str) -> Broadcast:
    """A Broadcast for the URL; an asyncpg-style URL is accepted for PostgreSQL."""
    if url.startswith("postgresql+asyncpg://"):
        url = "postgresql://" + url.removeprefix("postgresql+asyncpg://")
    return Broadcast(url)
