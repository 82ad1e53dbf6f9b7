"""Publishing committed events, and the hub subscribers listen through."""

from __future__ import annotations

import logging

from broadcaster import Broadcast

from models import Event
from resolvers.db import RowSessionFactory
from subscriptions.channels import Notice, channels_for
from subscriptions.hub import EventHub

log = logging.getLogger(__name__)


class EventBus:
    def __init__(self, broadcast: Broadcast, sessions: RowSessionFactory, feed_size: int) -> None:
        self.broadcast = broadcast
        self.sessions = sessions
        self.hub = EventHub(broadcast, sessions, feed_size)

    async def start(self) -> None:
        await self.broadcast.connect()
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        await self.broadcast.disconnect()

    async def publish(self, events: list[Event]) -> None:
        """Announce committed events. A failure loses nothing: the log has them, and
        subscribers fill gaps from it when a later event or a reconnect shows one."""
        for done, event in enumerate(events):
            message = Notice.of(event).encode()
            for channel in channels_for(event):
                try:
                    await self.broadcast.publish(channel, message)
                except Exception as exc:
                    # One warning, not one wait per channel: the backend is unreachable.
                    log.warning(
                        "broadcast unavailable, %d event(s) not announced (they are logged): %s",
                        len(events) - done,
                        exc,
                    )
                    return
