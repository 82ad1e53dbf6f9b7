"""Subscriptions over Server-Sent Events: the graphql-sse protocol's distinct connections
mode (https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md), resumable.

Strawberry streams the operation; this module makes its stream resumable as a browser's
EventSource expects:

- Every `next` event of a subscription whose root field takes `after` (an event cursor)
  carries that event's cursor as its SSE `id`. The document is rewritten to select the
  cursor under an alias of its own (`CURSOR_KEY`), taken out of the data again as the
  event is written, so the client sees the data it asked for. The alias is reserved:
  a document that uses it itself is refused, and only a cursor the rewrite added, a
  base64url token, becomes an `id:` line (nothing a client chose reaches the framing).
- A request with `Last-Event-ID` (what EventSource sends when it reconnects) resumes
  after that event: the header's cursor replaces the operation's `after` (its variable,
  or the literal argument), so a client that re-sends its original request neither
  misses nor repeats an event.
- A comment line every `SSE_HEARTBEAT_SECONDS` keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from cross_web import HTTPException
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_operation_ast,
    print_ast,
    visit,
)
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.streaming import JSONEncoder, SSETransport

from schema.parsing import parsed
from web.counted_sockets import RESUME_ARGUMENT

# The response key under which a rewritten document selects each event's cursor.
CURSOR_KEY = "threadlineEventCursor"
LAST_EVENT_ID = "last-event-id"
# What an event cursor is (web-safe base64): never a CR or LF that would end the id line.
_CURSOR = re.compile(r"[A-Za-z0-9_=-]{1,512}")
# Whether this request's document was rewritten to select CURSOR_KEY. The transport is
# shared by all requests; the request's context reaches the task that encodes its events.
_CURSOR_ADDED: ContextVar[bool] = ContextVar("cursor_added", default=False)


class EventStreamTransport(SSETransport):
    """Strawberry's SSE transport with event ids and a bare comment as heartbeat."""

    def encode_next(self, response: GraphQLHTTPResponse, encode_json: JSONEncoder) -> str:
        cursor = _take_cursor(response)
        event = self.encode_event("next", encode_json(response))
        # An id line before the event's data: EventSource remembers it for Last-Event-ID.
        return event if cursor is None else f"id: {cursor}\r\n{event}"

    def heartbeat_message(self, encode_json: JSONEncoder) -> str:
        return ":\n\n"


def event_stream_transport(heartbeat_seconds: float) -> type[EventStreamTransport]:
    """The transport class Strawberry instantiates (without arguments), with this interval."""

    class Configured(EventStreamTransport):
        def __init__(self) -> None:
            super().__init__(heartbeat_seconds)

    return Configured


def _take_cursor(response: GraphQLHTTPResponse) -> str | None:
    if not _CURSOR_ADDED.get():
        return None
    data = response.get("data")
    if not isinstance(data, dict) or len(data) != 1:
        return None
    (event,) = data.values()
    if not isinstance(event, dict):
        return None
    cursor = event.pop(CURSOR_KEY, None)
    return cursor if isinstance(cursor, str) and _CURSOR.fullmatch(cursor) else None


def resumable(
    request: GraphQLRequestData,
    headers: Mapping[str, str],
    schema: GraphQLSchema,
    max_tokens: int,
) -> GraphQLRequestData:
    """The SSE request to execute: selecting its events' cursors, and resuming after
    `Last-Event-ID` when sent. Anything else (a query, a document that does not parse)
    is left as it is, for GraphQL to answer in its own words. A document that uses the
    reserved alias itself is refused (400)."""
    if request.protocol != "sse" or not isinstance(request.query, str):
        return request
    try:
        document = parsed(request.query, max_tokens)
    except GraphQLError:
        return request
    if _uses_alias(document, CURSOR_KEY):
        raise HTTPException(400, f"the alias `{CURSOR_KEY}` is reserved over SSE: rename it")
    operation = get_operation_ast(document, request.operation_name)
    root = None if operation is None else _resumable_root(operation, schema)
    if operation is None or root is None or root.selection_set is None:
        return request
    variables = dict(request.variables or {})
    arguments = tuple(root.arguments or ())
    last_event_id = _header(headers, LAST_EVENT_ID)
    if last_event_id:
        arguments = _resume_after(arguments, last_event_id, variables)
    cursor = FieldNode(alias=NameNode(value=CURSOR_KEY), name=NameNode(value="cursor"))
    selections = (*root.selection_set.selections, cursor)
    # Nodes are immutable: the path from the document to the root field is rebuilt.
    root = replace(
        root, arguments=arguments, selection_set=replace(root.selection_set, selections=selections)
    )
    rewritten = replace(
        operation, selection_set=replace(operation.selection_set, selections=(root,))
    )
    definitions = tuple(rewritten if d is operation else d for d in document.definitions)
    query = print_ast(replace(document, definitions=definitions))
    _CURSOR_ADDED.set(True)
    return replace(request, query=query, variables=variables or request.variables)


def _uses_alias(document: DocumentNode, alias: str) -> bool:
    class Finder(Visitor):
        found = False

        def enter_field(self, node: FieldNode, *_: object) -> None:
            if node.alias is not None and node.alias.value == alias:
                self.found = True

    finder = Finder()
    visit(document, finder)
    return finder.found


def _resumable_root(operation: OperationDefinitionNode, schema: GraphQLSchema) -> FieldNode | None:
    """The root field of a subscription that resumes from a cursor, or None."""
    selections = operation.selection_set.selections
    if (
        operation.operation is not OperationType.SUBSCRIPTION
        or len(selections) != 1
        or not isinstance(selections[0], FieldNode)
        or schema.subscription_type is None
    ):
        return None
    root = selections[0]
    definition = schema.subscription_type.fields.get(root.name.value)
    if definition is None:
        return None
    # Object and interface types have fields; the cursor is what `after` takes.
    fields = getattr(get_named_type(definition.type), "fields", {})
    return root if RESUME_ARGUMENT in definition.args and "cursor" in fields else None


def _resume_after(
    arguments: tuple[ArgumentNode, ...], cursor: str, variables: dict[str, Any]
) -> tuple[ArgumentNode, ...]:
    """The root field's arguments with `after` pointing at `cursor`: through its variable
    if it has one (replacing the argument would leave the variable unused, an invalid
    document), else as a literal."""
    current = next((a for a in arguments if a.name.value == RESUME_ARGUMENT), None)
    if current is not None and isinstance(current.value, VariableNode):
        variables[current.value.name.value] = cursor
        return arguments
    others = tuple(a for a in arguments if a.name.value != RESUME_ARGUMENT)
    value = StringValueNode(value=cursor)
    return (*others, ArgumentNode(name=NameNode(value=RESUME_ARGUMENT), value=value))


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "").strip()
