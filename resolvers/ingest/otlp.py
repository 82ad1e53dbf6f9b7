"""Decoding OTLP/HTTP exports (protobuf or JSON): traces into plain spans, logs into
plain log records.

The official opentelemetry-proto messages decode both encodings; OTLP's JSON differs
from protobuf's JSON mapping only in its ids, which are hex (base64 is tolerated).
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from resolvers.errors import BadInput

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# Id fields of OTLP JSON, by their length in bytes.
ID_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


class TooLarge(Exception):
    """The body, once decompressed, is larger than allowed."""


@dataclass(frozen=True)
class Export:
    """One OTLP export service: its request and response messages, and the response's
    count of the items it refused."""

    request: type[Message]
    response: type[Message]
    rejected: str


TRACES = Export(ExportTraceServiceRequest, ExportTraceServiceResponse, "rejected_spans")
LOGS = Export(ExportLogsServiceRequest, ExportLogsServiceResponse, "rejected_log_records")


@dataclass
class IncomingSpan:
    """One exported span, its ids in hex and its attributes as plain JSON values."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    started_at: datetime
    ended_at: datetime
    error: bool
    status_message: str | None
    attributes: dict[str, Any]
    resource: dict[str, Any]
    # Attributes of the span's events (exception.message, gen_ai.* events), in order.
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class IncomingRecord:
    """One exported log record of a span (a GenAI event): its ids in hex, its event name
    (the record's own field, or the older `event.name` attribute), body and attributes
    as plain JSON values."""

    trace_id: str
    span_id: str
    event: str
    body: Any
    attributes: dict[str, Any]
    time_unix_nano: int


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body, gunzipped when sent so, and never larger than `limit` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise BadInput(f"unsupported Content-Encoding {encoding!r} (send gzip or none)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadInput(f"the gzip body cannot be decompressed: {exc}") from None
    if len(data) > limit:
        raise TooLarge
    if not inflater.eof:
        raise BadInput("the gzip body is truncated")
    return data


def decode(body: bytes, content_type: str, export: Export) -> Any:
    """The export's request message (an ExportTraceServiceRequest...), from either encoding."""
    request = export.request()
    name = export.request.DESCRIPTOR.name
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise BadInput(f"the body is not an OTLP protobuf {name}: {exc}") from None
        return request
    try:
        raw = json.loads(body)
        json_format.ParseDict(_ids_to_base64(raw), request, ignore_unknown_fields=True)
    except (ValueError, RecursionError, json_format.ParseError) as exc:
        raise BadInput(f"the body is not an OTLP JSON {name}: {exc}") from None
    return request


def _ids_to_base64(value: Any) -> Any:
    """OTLP JSON's hex ids as the base64 protobuf's JSON mapping reads; base64 passes."""
    if isinstance(value, list):
        return [_ids_to_base64(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {}
    for key, item in value.items():
        size = ID_FIELDS.get(key)
        if size is not None and isinstance(item, str) and len(item) == 2 * size:
            item = _hex_to_base64(item)
        converted[key] = _ids_to_base64(item)
    return converted


def _hex_to_base64(text: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(text)).decode()
    except ValueError:
        return text  # not hex: base64 already, or refused by the protobuf parser


def spans_of(request: ExportTraceServiceRequest) -> tuple[list[IncomingSpan], list[str]]:
    """The request's spans, and why each refused one was refused."""
    found: list[IncomingSpan] = []
    refused: list[str] = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    found.append(_incoming(span, resource))
                except BadInput as exc:
                    refused.append(exc.message)
    return found, refused


def _incoming(span: ProtoSpan, resource: dict[str, Any]) -> IncomingSpan:
    trace_id, span_id = _hex_id(span.trace_id, 16, "traceId"), _hex_id(span.span_id, 8, "spanId")
    where = f"span {span_id}"
    if not span.name:
        raise BadInput(f"{where}: the name is empty")
    if not span.start_time_unix_nano or span.end_time_unix_nano < span.start_time_unix_nano:
        raise BadInput(f"{where}: needs a start time, and an end time not before it")
    parent = _hex_id(span.parent_span_id, 8, "parentSpanId") if span.parent_span_id else None
    if parent == span_id:
        raise BadInput(f"{where}: a span cannot be its own parent")
    error = span.status.code == Status.STATUS_CODE_ERROR
    return IncomingSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent,
        name=span.name,
        started_at=_time(span.start_time_unix_nano),
        ended_at=_time(span.end_time_unix_nano),
        error=error,
        status_message=span.status.message or None,
        attributes=attributes(span.attributes),
        resource=resource,
        events=[(event.name, attributes(event.attributes)) for event in span.events],
    )


def _hex_id(raw: bytes, size: int, name: str, of: str = "a span") -> str:
    if len(raw) != size or not any(raw):
        raise BadInput(f"{of}'s {name} must be {size} bytes, not all zero")
    return binascii.hexlify(raw).decode()


def records_of(request: ExportLogsServiceRequest) -> tuple[list[IncomingRecord], list[str]]:
    """The request's log records, and why each refused one was refused."""
    found: list[IncomingRecord] = []
    refused: list[str] = []
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                try:
                    found.append(_record(record))
                except BadInput as exc:
                    refused.append(exc.message)
    return found, refused


def _record(record: LogRecord) -> IncomingRecord:
    attrs = attributes(record.attributes)
    event = record.event_name or str(attrs.get("event.name") or "")
    # A GenAI event belongs to a model call's span: without one it has no place.
    of = f"log record {event or '(no event name)'}"
    return IncomingRecord(
        trace_id=_hex_id(record.trace_id, 16, "traceId", of),
        span_id=_hex_id(record.span_id, 8, "spanId", of),
        event=event,
        body=value_of(record.body) if record.HasField("body") else None,
        attributes=attrs,
        time_unix_nano=record.time_unix_nano or record.observed_time_unix_nano,
    )


def _time(unix_nano: int) -> datetime:
    return datetime.fromtimestamp(unix_nano / 1e9, UTC)


def attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: value_of(pair.value) for pair in pairs}


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value_of(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def encode_response(content_type: str, export: Export, rejected: int, message: str) -> bytes:
    """The export's response, with partialSuccess when items were refused."""
    response: Any = export.response()
    if rejected:
        setattr(response.partial_success, export.rejected, rejected)
        response.partial_success.error_message = message
    if content_type == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()
