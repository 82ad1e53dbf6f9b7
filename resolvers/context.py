"""The typed context every resolver receives."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from config import Settings
from resolvers.counters import Counters
from resolvers.db import Database, SessionFactory
from resolvers.loaders import Loaders
from resolvers.pagination import PageArgs, PageRequest
from resolvers.principal import Principal

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from resolvers.events import LoadedEvent
    from resolvers.publisher import Publisher


@dataclass
class Context:
    database: Database
    settings: Settings
    loaders: Loaders
    # Publishes committed events (subscriptions.bus.EventBus, which also feeds
    # subscriptions); None where nobody listens (CLI).
    bus: Publisher | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # graphql-transport-ws's connection_init payload, where a WebSocket brings its credential.
    connection_params: dict[str, object] | None = None
    # The event a subscription on this context yielded last: a shared stream tells a
    # subscriber that fell behind where to resume from.
    stream_position: LoadedEvent | None = None
    # While a bulk `ingest` runs its items: the batch's session, which their writes use.
    batch_session: AsyncSession | None = None
    # Transactions this operation committed: one that wrote must not be answered as a
    # request to send again.
    commits: int = 0
    # What operators read (web.metrics): the app's one, kept by every operation's context.
    counters: Counters = field(default_factory=Counters)

    @classmethod
    def create(
        cls,
        database: Database,
        settings: Settings,
        bus: Publisher | None = None,
        principal: Principal | None = None,
    ) -> Context:
        # The command line is trusted: it acts as the development user.
        principal = principal or Principal.development()
        return cls(database, settings, Loaders(database.row_sessions, principal), bus)

    @property
    def principal(self) -> Principal:
        return self.loaders.principal

    def authenticated_as(self, principal: Principal) -> None:
        """Who a WebSocket turned out to be, once its connection_init was checked."""
        self.loaders = Loaders(self.database.row_sessions, principal)

    def for_operation(self) -> Context:
        """The context of one operation on a long-lived connection: its principal and
        connection params, and nothing another operation loaded or failed to load
        (DataLoader keeps failures too), with its own request id and stream position."""
        return dataclasses.replace(
            self,
            loaders=Loaders(self.database.row_sessions, self.principal),
            request_id=uuid.uuid4().hex,
            stream_position=None,
            commits=0,
        )

    def refresh_loaders(self) -> None:
        """New, empty loaders: a WebSocket context lives long, each event must read fresh rows."""
        self.loaders = Loaders(self.database.row_sessions, self.principal)

    @property
    def session_factory(self) -> SessionFactory:
        """Sessions for writes; a fresh one per transaction."""
        return self.database.sessions

    def page_request(self, args: PageArgs) -> PageRequest:
        return PageRequest.from_args(
            args, self.settings.default_page_size, self.settings.max_page_size
        )
