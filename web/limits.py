"""What the GraphQL HTTP route refuses before anything else reads the request.

- A body past `max_body_bytes` (declared by Content-Length, or counted as it streams
  in): 413.
- Cross-site request forgery: a browser sends a "simple" cross-origin request
  (a form's POST, an <img>'s GET) without asking the server first, cookies and
  all. A POST must therefore have a JSON content type, which no simple request can
  have, and a GET that runs an operation must carry a header that no simple request
  can carry (X-Threadline-CSRF or Apollo-Require-Preflight, any non-empty value).
  Otherwise: 400. A GET without a query (the GraphiQL page) passes.
- A mutation sent with GET: 405 (GET must stay safe to repeat and to prefetch).

Every refusal, here or a plain-text one from Strawberry (unreadable JSON, GraphiQL
switched off...), is answered with a GraphQL-shaped body: `{"errors": [{"message",
"extensions": {"code"}}]}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import GraphQLError, OperationDefinitionNode, OperationType, get_operation_ast
from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import Settings
from schema.parsing import parsed
from web.authentication import graphql_error
from web.rewrite import rewriting

JSON_TYPES = frozenset({"application/json", "application/graphql-response+json"})
PREFLIGHT_HEADERS = ("x-threadline-csrf", "apollo-require-preflight")
# The codes of Strawberry's plain-text refusals, by status.
CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


@dataclass(frozen=True)
class Refusal:
    message: str
    code: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        return graphql_error(self.message, self.code, self.status, **self.headers)


MUTATION_BY_GET = Refusal(
    "Mutations cannot be sent with GET: send them with POST",
    "METHOD_NOT_ALLOWED",
    405,
    {"Allow": "POST"},
)
GET_WITHOUT_PREFLIGHT = Refusal(
    "A GET request that runs an operation needs an X-Threadline-CSRF (or "
    "Apollo-Require-Preflight) header, against cross-site request forgery",
    "CSRF_PREVENTED",
    400,
)
POST_WITHOUT_JSON = Refusal(
    "A POST request needs the content type application/json (or an X-Threadline-CSRF "
    "or Apollo-Require-Preflight header), against cross-site request forgery",
    "CSRF_PREVENTED",
    400,
)


class TooLarge(Exception):
    pass


class Disconnected(Exception):
    pass


class Limits:
    """ASGI middleware for the GraphQL HTTP route (not the WebSocket one)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.too_large = Refusal(
            f"The request body is larger than the limit of {settings.max_body_bytes} bytes",
            "PAYLOAD_TOO_LARGE",
            413,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        body = b""
        if refusal is None:
            try:
                body = await read_body(receive, self.settings.max_body_bytes)
            except TooLarge:
                refusal = self.too_large
            except Disconnected:
                return
        if refusal is not None:
            await refusal.response()(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), shaped(send))

    def refusal(self, scope: Scope) -> Refusal | None:
        """Why the request is refused, from its head alone (None: it is not)."""
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.settings.max_body_bytes:
            return self.too_large
        preflighted = any(headers.get(name, "").strip() for name in PREFLIGHT_HEADERS)
        if scope["method"] not in ("GET", "HEAD"):
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            return None if preflighted or content_type in JSON_TYPES else POST_WITHOUT_JSON
        params = QueryParams(scope["query_string"])
        if "query" not in params:
            return None  # the GraphiQL page (or Strawberry's "no query" answer)
        operation = operation_type(params["query"], params.get("operationName"), self.settings)
        if operation is OperationType.MUTATION:
            return MUTATION_BY_GET
        return None if preflighted else GET_WITHOUT_PREFLIGHT


def operation_type(
    query: object, operation_name: object, settings: Settings
) -> OperationType | None:
    """The type of the operation a request would run. None for a document that does
    not parse or names no single operation: GraphQL refuses those with its own words."""
    operation = operation_of(query, operation_name, settings)
    return None if operation is None else operation.operation


def operation_of(
    query: object, operation_name: object, settings: Settings
) -> OperationDefinitionNode | None:
    """The operation a request would run (see operation_type)."""
    if not isinstance(query, str) or not isinstance(operation_name, str | None):
        return None
    try:
        document = parsed(query, settings.max_query_tokens)
    except GraphQLError:
        return None
    return get_operation_ast(document, operation_name)


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, counted as it arrives (a chunked body declares no length, and a
    declared length may be a lie): at most `limit` bytes are kept."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then waits as the server's does."""
    pending = True

    async def receive_again() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


def shaped(send: Send) -> Send:
    """A send that turns a plain-text error response into a GraphQL-shaped one."""
    return rewriting(send, is_plain_error, graphql_shaped)


def graphql_shaped(start: Message, body: bytes) -> tuple[Message, bytes]:
    status = start["status"]
    reason = body.decode("utf-8", "replace")
    headers = {
        key.decode("latin-1"): value.decode("latin-1")
        for key, value in start.get("headers", [])
        if key.lower() == b"allow"
    }
    response = graphql_error(reason, CODES.get(status, "BAD_REQUEST"), status, **headers)
    return (
        {"type": "http.response.start", "status": status, "headers": response.raw_headers},
        bytes(response.body),
    )


def is_plain_error(start: Message) -> bool:
    if not 400 <= start["status"] < 500:
        return False
    headers = Headers(raw=start.get("headers", []))
    return headers.get("content-type", "").startswith("text/plain")
