"""The typed context every resolver receives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from config import Settings
from resolvers.db import Database, SessionFactory
from resolvers.loaders import Loaders
from resolvers.pagination import PageArgs, PageRequest

if TYPE_CHECKING:
    from subscriptions.bus import EventBus


@dataclass
class Context:
    database: Database
    settings: Settings
    loaders: Loaders
    # Publishes committed events and feeds subscriptions; None where nobody listens (CLI).
    bus: EventBus | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def create(cls, database: Database, settings: Settings, bus: EventBus | None = None) -> Context:
        return cls(database, settings, Loaders(database.row_sessions), bus)

    def refresh_loaders(self) -> None:
        """New, empty loaders: a WebSocket context lives long, each event must read fresh rows."""
        self.loaders = Loaders(self.database.row_sessions)

    @property
    def session_factory(self) -> SessionFactory:
        """Sessions for writes; a fresh one per transaction."""
        return self.database.sessions

    def page_request(self, args: PageArgs) -> PageRequest:
        return PageRequest.from_args(
            args, self.settings.default_page_size, self.settings.max_page_size
        )
