"""The baseline of the fan-out benchmark: a bare broadcaster-to-WebSocket relay.

It speaks just enough of Threadline's API for bench/fanout.py: graphql-transport-ws
subscriptions (acknowledged, never validated) and POST /graphql, where a
createConversation answers an id and any other mutation becomes an event, published
through broadcaster (memory) and sent by every subscriber's task in the shape the
fan-out subscription selects. No database, no GraphQL execution: what is left is
the cost of fanning out over WebSockets in Python, on the same client.

    PORT=8001 python -m bench.relay_baseline
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import uvicorn
from broadcaster import Broadcast
from broadcaster._base import Subscriber
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from web.process import tune_garbage_collector

CHANNEL = "events"


def create_relay() -> Starlette:
    broadcast = Broadcast("memory://")
    seq = 0

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broadcast.connect()
        yield
        await broadcast.disconnect()

    async def graphql(request: Request) -> Response:
        nonlocal seq
        body = await request.json()
        if "createConversation" in body["query"]:
            return JSONResponse({"data": {"createConversation": {"id": str(uuid.uuid4())}}})
        seq += 1
        event = {
            "seq": seq,
            "createdAt": datetime.now(UTC).isoformat(),
            "message": {"content": body.get("variables", {}).get("text", "")},
        }
        await broadcast.publish(CHANNEL, json.dumps(event))
        return JSONResponse({"data": {"sendMessage": {"seq": seq}}})

    async def relay(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="graphql-transport-ws")

        async def forward(op_id: str, subscriber: Subscriber) -> None:
            while True:
                message = await subscriber.get()
                data = {"conversationEvents": json.loads(message.message)}
                frame = {"id": op_id, "type": "next", "payload": {"data": data}}
                await websocket.send_text(json.dumps(frame))

        async with contextlib.AsyncExitStack() as stack:
            tasks: list[asyncio.Task[None]] = []
            try:
                while True:
                    message = json.loads(await websocket.receive_text())
                    if message["type"] == "connection_init":
                        await websocket.send_text(json.dumps({"type": "connection_ack"}))
                    elif message["type"] == "subscribe":
                        # Subscribed before the next message is read: live from here.
                        subscriber = await stack.enter_async_context(broadcast.subscribe(CHANNEL))
                        tasks.append(asyncio.create_task(forward(message["id"], subscriber)))
            except WebSocketDisconnect:
                pass
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def healthz(request: Request) -> Response:
        return Response("ok")

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["POST"]),
            WebSocketRoute("/graphql", relay),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


if __name__ == "__main__":
    tune_garbage_collector()  # as `main.py serve` does: like for like
    uvicorn.run(
        create_relay(),
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        log_level="warning",
        ws_per_message_deflate=False,
    )
