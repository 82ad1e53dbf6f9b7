"""POST /v1/traces and /v1/logs: OpenTelemetry's OTLP/HTTP trace and log exports, in
protobuf or JSON (the logs: GenAI events, stored with their spans).

Both answer as OTLP asks: 200 with the export's response (partialSuccess naming the
spans or log records refused and why), 400 for a body that does not decode, 401/403
without a credential with the INGEST scope, 413 past OTLP_MAX_BODY_BYTES (before or
after gunzip), 415 for another content type, 503 with Retry-After while
INGEST_QUEUE_SIZE requests (of either) are being written already, while the database
is unavailable (UNAVAILABLE) or too slow (TIMEOUT). Error bodies are google.rpc.Status
messages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from google.protobuf.internal.encoder import _VarintBytes
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config import Settings
from models.enums import ApiKeyScope
from resolvers.context import Context
from resolvers.credentials import authenticate, credential_from
from resolvers.db import Database, brief, is_statement_timeout, is_unavailable
from resolvers.errors import RETRY_AFTER_SECONDS, ThreadlineError, Unavailable
from resolvers.ingest import otlp
from resolvers.ingest.batch import Outcome
from resolvers.ingest.logs import ingest_records
from resolvers.ingest.spans import ingest_spans
from subscriptions.bus import EventBus
from web.limits import Disconnected, TooLarge, read_body
from web.metrics import Metrics

log = logging.getLogger(__name__)
# gRPC status codes, which google.rpc.Status carries, by HTTP status.
GRPC_CODES = {400: 3, 401: 16, 403: 7, 409: 10, 413: 8, 415: 3, 503: 14}
HTTP_STATUS = {"BAD_USER_INPUT": 400, "UNAUTHENTICATED": 401, "FORBIDDEN": 403}
# Reasons named in a partialSuccess message; the count covers every refused item.
SHOWN_REASONS = 5
Item = TypeVar("Item")


@dataclass(frozen=True)
class Signal(Generic[Item]):
    """One OTLP signal: where it is sent, its export service, the items a request holds
    (and why any were refused), and how they are stored."""

    path: str
    export: otlp.Export
    items: Callable[[Any], tuple[list[Item], list[str]]]
    ingest: Callable[[Context, list[Item], Outcome], Awaitable[None]]


SIGNALS: tuple[Signal[Any], ...] = (
    Signal("/v1/traces", otlp.TRACES, otlp.spans_of, ingest_spans),
    Signal("/v1/logs", otlp.LOGS, otlp.records_of, ingest_records),
)


def status_response(content_type: str, status: int, code: str, message: str) -> Response:
    """An OTLP error: a google.rpc.Status in the request's encoding."""
    grpc = GRPC_CODES.get(status, 2)
    text = f"{code}: {message}"
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if content_type == otlp.PROTOBUF:
        # google.rpc.Status {1: code, 2: message}, written out: its two scalar fields are
        # all a client reads, and the protos defining it are not a dependency.
        raw = text.encode()
        body = b"\x08" + _VarintBytes(grpc) + b"\x12" + _VarintBytes(len(raw)) + raw
        return Response(body, status, headers, media_type=otlp.PROTOBUF)
    body = json.dumps({"code": grpc, "message": text}).encode()
    return Response(body, status, headers, media_type=otlp.JSON)


class Receiver:
    """The endpoints; counts the requests they are writing, to refuse more than the queue
    holds."""

    def __init__(
        self, settings: Settings, database: Database, bus: EventBus, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.database = database
        self.bus = bus
        self.metrics = metrics
        self.in_progress = 0
        metrics.ingest_queue.set_function(lambda: self.in_progress)

    async def handle(self, signal: Signal[Any], request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (otlp.PROTOBUF, otlp.JSON):
            return status_response(
                otlp.JSON, 415, "UNSUPPORTED_MEDIA_TYPE", "send application/x-protobuf or json"
            )
        if self.in_progress >= self.settings.ingest_queue_size:
            return status_response(content_type, 503, "UNAVAILABLE", "the write queue is full")
        self.in_progress += 1
        try:
            return await self.receive(signal, request, content_type)
        finally:
            self.in_progress -= 1

    async def receive(self, signal: Signal[Any], request: Request, content_type: str) -> Response:
        limit = self.settings.otlp_max_body_bytes
        too_large = f"the body is larger than the limit of {limit} bytes"
        try:
            credential = credential_from(request.headers)
            principal = await authenticate(credential, self.settings, self.database)
            principal.require(ApiKeyScope.INGEST)
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return status_response(content_type, 413, "PAYLOAD_TOO_LARGE", too_large)
            body = await read_body(request.receive, limit)
            encoding = request.headers.get("content-encoding", "")
            raw = otlp.decompress(body, encoding, limit)
            incoming, refused = signal.items(otlp.decode(raw, content_type, signal.export))
            outcome = Outcome()
            for reason in refused:
                outcome.refuse(1, reason)
            context = Context.create(self.database, self.settings, self.bus, principal)
            await signal.ingest(context, incoming, outcome)
        except (TooLarge, otlp.TooLarge):
            return status_response(content_type, 413, "PAYLOAD_TOO_LARGE", too_large)
        except Disconnected:
            return Response(status_code=400)
        except ThreadlineError as exc:
            status = HTTP_STATUS.get(exc.code, 409)
            return status_response(content_type, status, exc.code, exc.message)
        except Exception as exc:
            if is_statement_timeout(exc):
                return status_response(content_type, 503, "TIMEOUT", "the database is too slow now")
            if not is_unavailable(exc):
                raise
            # The batch's transaction rolled back: sending it again writes it once.
            log.warning("OTLP export refused, the database is unavailable: %s", brief(exc))
            message = "the database is unavailable right now; retry in a moment"
            return status_response(content_type, 503, Unavailable.code, message)
        received = len(incoming) + len(refused)
        self.metrics.count_ingested(
            signal.export.rejected.removeprefix("rejected_"),
            received - outcome.rejected_spans,
            outcome.rejected_spans,
        )
        message = "; ".join(outcome.rejected[:SHOWN_REASONS])
        # Outcome counts refused items, spans or log records.
        body = otlp.encode_response(content_type, signal.export, outcome.rejected_spans, message)
        return Response(body, 200, media_type=content_type)


def otlp_routes(
    settings: Settings, database: Database, bus: EventBus, metrics: Metrics
) -> list[Route]:
    receiver = Receiver(settings, database, bus, metrics)
    return [
        Route(signal.path, partial(receiver.handle, signal), methods=["POST"]) for signal in SIGNALS
    ]
