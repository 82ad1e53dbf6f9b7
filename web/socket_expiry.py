"""A WebSocket outlives its credential unless the server ends it.

graphql-transport-ws authenticates once, in connection_init; a JWT's `exp` (or an API
key's `expires_at`) passes while the socket stays open. At that moment the socket's
running operations get an UNAUTHENTICATED error and the socket is closed with 4403,
as a refused connection_init is: the client reconnects with a fresh credential.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from models.base import utcnow
from resolvers.errors import Unauthenticated
from web.heartbeat import CLIENT_GONE, HeartbeatSocketHandler

FORBIDDEN = 4403
EXPIRED = "the credential has expired"


class ExpiringSocketHandler(HeartbeatSocketHandler):
    """graphql-transport-ws (with its heartbeat) that ends the socket when its
    credential expires."""

    expiry_timer: asyncio.Task[None] | None = None
    expired = False

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        expires_at = self.context.principal.expires_at
        # A second connection_init closes the socket (4429): one timer per socket.
        if self.connection_acknowledged and expires_at is not None and self.expiry_timer is None:
            self.expiry_timer = asyncio.create_task(self._expire_at(expires_at))

    async def handle_message(self, message: Message) -> None:
        # Closing for its expired credential, the socket answers nothing more (a ping
        # answered after the close would fail).
        if not self.expired:
            await super().handle_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # The timer runs on the loop's monotonic clock and may not have fired yet when
        # the wall clock passes the expiry: every operation checks for itself.
        expires_at = self.context.principal.expires_at
        if self.connection_acknowledged and expires_at is not None and utcnow() >= expires_at:
            await self._end_expired()
            return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
            # Unlike awaiting the task, asyncio.wait lets a cancellation of shutdown through.
            await asyncio.wait([self.expiry_timer])
        await super().shutdown()

    async def _expire_at(self, expires_at: datetime) -> None:
        await asyncio.sleep(seconds_until(expires_at))
        try:
            await self._end_expired()
        except Exception as error:
            # Logged as Strawberry logs its own tasks' failures.
            await self.handle_task_exception(error)

    async def _end_expired(self) -> None:
        if self.expired:
            return
        self.expired = True
        await self.stop_heartbeat()  # no ping after the close
        running = list(self.operations)
        # Cancelled before anything is sent: no result follows the expiry.
        for operation_id in running:
            await self.cleanup_operation(operation_id)
        error = GraphQLError(EXPIRED, extensions={"code": Unauthenticated.code}).formatted
        try:
            for operation_id in running:
                await self.send_message({"id": operation_id, "type": "error", "payload": [error]})
            await self.websocket.close(code=FORBIDDEN, reason=EXPIRED)
        except CLIENT_GONE:
            pass  # the client left first: there is nobody to tell


def seconds_until(expires_at: datetime) -> float:
    """From now to a credential's expiry: what a socket or an HTTP stream has left."""
    return max(0.0, (expires_at - utcnow()).total_seconds())
