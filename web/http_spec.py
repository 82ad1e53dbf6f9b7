"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): the response's
media type, negotiated by `Accept`, and the status codes that go with it.

- `application/graphql-response+json` (the spec's type, and its default since the
  2025-01-01 watershed when `Accept` is absent): a request error (the document does
  not parse or validate, the operation cannot be chosen, a variable does not coerce)
  is a 400 whose body has no `data` entry. Field errors stay 200 with data.
- `application/json` (legacy clients that ask for it, or for anything: `*/*`):
  unchanged, request errors are 200 with `"data": null`.
- Neither acceptable: 406, before anything else reads the request.

Streaming transports (`text/event-stream`, `multipart/mixed`) and a GET that runs no
operation (the GraphiQL page) pass untouched: their responses are not GraphQL JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeGuard

from graphql import GraphQLError
from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import Settings
from schema.parsing import parsed
from web.authentication import graphql_error
from web.limits import operation_of
from web.rewrite import rewriting

GRAPHQL_RESPONSE = "application/graphql-response+json"
LEGACY_JSON = "application/json"
# The types served (negotiate says which wins a tie).
SUPPORTED = (GRAPHQL_RESPONSE, LEGACY_JSON)
STREAMING = frozenset({"text/event-stream", "multipart/mixed"})
INTERNAL = "INTERNAL_SERVER_ERROR"


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header: `type/subtype;param=value;q=0.5`."""

    kind: str
    charset: str | None
    quality: float

    def matches(self, media_type: str) -> bool:
        # A charset other than UTF-8 is one this server never sends.
        if self.charset not in (None, "utf-8"):
            return False
        main = media_type.partition("/")[0]
        return self.kind in (media_type, f"{main}/*", "*/*")

    @property
    def specificity(self) -> int:
        return 0 if self.kind == "*/*" else 1 if self.kind.endswith("/*") else 2


def media_ranges(accept: str) -> list[MediaRange]:
    """The ranges of an Accept header; a malformed q-value counts as 0 (not acceptable)."""
    ranges = []
    for item in accept.split(","):
        kind, *parameters = (part.strip() for part in item.split(";"))
        if not kind:
            continue
        params = dict(_pair(parameter) for parameter in parameters)
        ranges.append(MediaRange(kind.lower(), params.get("charset"), _quality(params.get("q"))))
    return ranges


def _pair(parameter: str) -> tuple[str, str]:
    name, _, value = parameter.partition("=")
    return name.strip().lower(), value.strip().strip('"').lower()


def _quality(value: str | None) -> float:
    if value is None:
        return 1.0
    try:
        quality = float(value)
    except ValueError:
        return 0.0
    return quality if 0.0 <= quality <= 1.0 else 0.0


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with (None: 406).

    Each supported type takes the q-value of the most specific range that matches it
    (RFC 9110 12.5.1); the higher q wins, then the type named rather than reached by a
    wildcard. Between two types named at the same q, the spec's own wins. Between two
    reached only by a wildcard (`*/*`: curl, fetch, requests, httpx by default), the
    legacy one: the spec leaves that choice to the server, and such clients predate
    the new type and read 200s (an absent Accept is the spec's default, the new type).
    """
    if accept is None or not accept.strip():
        return GRAPHQL_RESPONSE
    ranges = media_ranges(accept)
    ranked: list[tuple[float, int, bool, str]] = []
    for media_type in SUPPORTED:
        matching = [found for found in ranges if found.matches(media_type)]
        if not matching:
            continue
        closest = max(matching, key=lambda found: found.specificity)
        named = closest.specificity == 2
        preferred = media_type == (GRAPHQL_RESPONSE if named else LEGACY_JSON)
        if closest.quality > 0:
            ranked.append((closest.quality, closest.specificity, preferred, media_type))
    return max(ranked)[3] if ranked else None


def is_request_error(body: object) -> TypeGuard[dict[str, Any]]:
    """A response to a request that never ran: errors, no data, and no error placed at a
    field (graphql-core gives every field error a path; request errors have none)."""
    if not isinstance(body, dict) or body.get("data") is not None:
        return False
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors:
        return False
    return all(isinstance(error, dict) and not error.get("path") for error in errors)


def request_error_status(body: dict[str, Any]) -> int:
    """400, or 500 for a failure of the server's own that was masked before execution."""
    codes = {(error.get("extensions") or {}).get("code") for error in body["errors"]}
    return 500 if INTERNAL in codes else 400


class GraphQLOverHTTP:
    """ASGI middleware for the GraphQL HTTP route: negotiates the response's media type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or passes_through(scope):
            await self.app(scope, receive, send)
            return
        media_type = negotiate(Headers(scope=scope).get("accept"))
        if media_type is None:
            accepted = ", ".join(SUPPORTED)
            refusal = graphql_error(
                f"None of the media types in Accept is served here: ask for {accepted}",
                "NOT_ACCEPTABLE",
                406,
            )
            await refusal(scope, receive, send)
            return
        if media_type == LEGACY_JSON:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, graphql_response(send))


def passes_through(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    accepted = {found.kind for found in media_ranges(headers.get("accept", ""))}
    if accepted & STREAMING:
        return True
    return scope["method"] in ("GET", "HEAD") and "query" not in QueryParams(scope["query_string"])


def graphql_response(send: Send) -> Send:
    """A send that answers a JSON response as application/graphql-response+json."""
    return rewriting(send, is_json, as_graphql_response)


def as_graphql_response(start: Message, body: bytes) -> tuple[Message, bytes]:
    """The response in the spec's type: a request error loses its `data` entry and
    becomes a 4xx (5xx for the server's own)."""
    status = start["status"]
    parsed = json.loads(body) if body else None
    if status == 200 and is_request_error(parsed):
        del parsed["data"]
        status = request_error_status(parsed)
        body = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()
    headers = MutableHeaders(raw=list(start.get("headers", [])))
    headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
    headers["content-length"] = str(len(body))
    return {**start, "status": status, "headers": headers.raw}, body


def is_json(start: Message) -> bool:
    content_type = Headers(raw=start.get("headers", [])).get("content-type", "")
    return content_type.split(";")[0].strip().lower() == LEGACY_JSON


def names_no_operation(query: object, operation_name: object, settings: Settings) -> bool:
    """Whether a document that parses names no operation to run: several and no
    `operationName`, or a name it does not hold (Strawberry would run the first)."""
    if not isinstance(query, str):
        return False
    try:
        parsed(query, settings.max_query_tokens)
    except GraphQLError:
        return False  # GraphQL refuses it with its own words
    return operation_of(query, operation_name, settings) is None
