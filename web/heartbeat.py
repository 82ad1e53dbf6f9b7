"""A graphql-transport-ws heartbeat that clients can see.

Strawberry's `keep_alive` reaches only the legacy graphql-ws protocol; with
graphql-transport-ws the only pings were the WebSocket server's own frames, invisible
to a client library. Here an acknowledged socket gets `{"type": "ping"}` every
WS_PING_INTERVAL_SECONDS: proxies see traffic on an idle socket (many close one silent
for 60 s), and clients see the server alive (graphql-ws: `on: {ping}`). A client that
has not answered a ping with a pong by the next one is gone or stuck: its socket is
closed with 4408, which graphql-ws clients take as "time out, reconnect", and its
subscriptions end instead of queueing events for nobody.
"""

from __future__ import annotations

import asyncio

from starlette import websockets as starlette_websockets
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    PongMessage,
)

from resolvers.context import Context

PONG_TIMEOUT = 4408
PONG_TIMEOUT_REASON = "no pong to the last ping"
# What sending to a client that has already gone raises: Strawberry's adapter turns
# only some of Starlette's errors into its own.
CLIENT_GONE = (
    WebSocketDisconnected,
    starlette_websockets.WebSocketDisconnect,
    starlette_websockets.WebSocketDisconnected,
)


class HeartbeatSocketHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws that pings an acknowledged socket and closes a silent one."""

    heartbeat: asyncio.Task[None] | None = None
    ping_unanswered = False

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        interval = self.context.settings.ws_ping_interval_seconds
        # A second connection_init closes the socket (4429): one heartbeat per socket.
        if self.connection_acknowledged and interval > 0 and self.heartbeat is None:
            self.heartbeat = asyncio.create_task(self._beat(interval))

    async def handle_pong(self, message: PongMessage) -> None:
        self.ping_unanswered = False

    async def stop_heartbeat(self) -> None:
        if self.heartbeat is not None and self.heartbeat is not asyncio.current_task():
            self.heartbeat.cancel()
            # Unlike awaiting the task, asyncio.wait lets a cancellation of the caller through.
            await asyncio.wait([self.heartbeat])

    async def shutdown(self) -> None:
        await self.stop_heartbeat()
        await super().shutdown()

    async def _beat(self, interval: float) -> None:
        try:
            while True:
                await asyncio.sleep(interval)
                if self.ping_unanswered:
                    await self.websocket.close(code=PONG_TIMEOUT, reason=PONG_TIMEOUT_REASON)
                    return
                self.ping_unanswered = True
                await self.send_message({"type": "ping"})
        except CLIENT_GONE:
            pass  # the socket ends by itself: shutdown follows
        except Exception as error:
            # Logged as Strawberry logs its own tasks' failures.
            await self.handle_task_exception(error)
