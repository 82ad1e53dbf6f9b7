"""GET /conversations/{id}/export and GET /conversations/{id}/markdown: a conversation's
export document (what conversationExport answers and importConversation reads) and its
Markdown transcript (conversationMarkdown's), streamed as they are read, whatever their
size: the rows come in keyset batches of one snapshot (resolvers.conversation_reader),
and each batch is sent before the next is read.

`id` is a global Conversation id or its UUID. Authentication and visibility are
/graphql's: 401 without a credential where auth is on, 403 for an API key without READ,
404 NOT_FOUND alike for a conversation that does not exist and one that is not yours,
400 BAD_USER_INPUT for an id that is not a Conversation's, 503 while the database is
unavailable or too slow, and 503 UNAVAILABLE with Retry-After while the process already
runs as many downloads as it may (DOWNLOADS_MAX_CONCURRENT); each a GraphQL-shaped JSON
error body. Those are known before the first byte is sent. A failure after it can only
cut the response short (no final chunk): the client sees an incomplete transfer, and the
export does not parse.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from config import Settings
from models.enums import ApiKeyScope
from resolvers import transcript
from resolvers.context import Context
from resolvers.conversation_reader import ConversationReader, reading
from resolvers.db import Database, is_statement_timeout, is_unavailable
from resolvers.errors import RETRY_AFTER_SECONDS, ThreadlineError
from resolvers.export import header, table_batches
from resolvers.ids import parse_client_id
from web.authentication import (
    Authenticate,
    error_response,
    graphql_error,
    principal_of,
    unavailable_response,
)
from web.encoding import compact

# What may be refused before the first byte (Authenticate answers UNAUTHENTICATED).
STATUS = {"BAD_USER_INPUT": 400, "FORBIDDEN": 403, "NOT_FOUND": 404}


async def document_chunks(reader: ConversationReader) -> AsyncGenerator[str]:
    """The export document as JSON text, a batch of rows a chunk, a row a line."""
    opening = compact(header(reader.conversation_id))[:-1] + ',"tables":{'
    table, separator = None, ""
    async for name, rows in table_batches(reader):
        piece = ""
        if name != table:
            piece, table, separator = f"{opening}\n{compact(name)}:[", name, ""
            opening = "],"
        if rows:
            piece += separator + ",".join(f"\n{compact(row)}" for row in rows)
            separator = ","
        if piece:
            yield piece
    yield "]}}\n"


@dataclass(frozen=True)
class Download:
    name: str
    media_type: str
    suffix: str
    chunks: Callable[[ConversationReader], AsyncGenerator[str]]


DOWNLOADS = (
    Download("export", "application/json", "json", document_chunks),
    Download("markdown", "text/markdown; charset=utf-8", "md", transcript.markdown_chunks),
)


class Downloads:
    """The download routes of one app (one process): `running` counts the downloads
    that hold a slot, each from before its first row is read until its response ends."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.running = 0

    async def respond(self, download: Download, request: Request) -> Response:
        try:
            conversation_id = parse_client_id(request.path_params["id"], "Conversation")
            assert conversation_id is not None  # only None for None
            principal = principal_of(request.scope)
            principal.require(ApiKeyScope.READ)
            context = Context.create(self.database, self.settings, principal=principal)
            # What fails before the first chunk (NOT_FOUND, a database down) fails here,
            # while the response can still say so with its status.
            async with AsyncExitStack() as stack:
                # Past the cap, refused rather than queued: a slot stays taken as long
                # as its client takes to read, and a waiting request would hold its
                # connection and task meanwhile, with no bound on the wait.
                if self.running >= self.settings.download_slots:
                    return _busy(self.settings.download_slots)
                self.running += 1
                stack.callback(self._finished)
                reader = await stack.enter_async_context(reading(context, conversation_id))
                chunks = download.chunks(reader)
                stack.push_async_callback(chunks.aclose)
                first = await anext(chunks)
                held = stack.pop_all()
        except ThreadlineError as exc:
            return graphql_error(exc.message, exc.code, STATUS[exc.code])
        except Exception as exc:
            return _database_failure(exc)
        filename = f"conversation-{conversation_id}.{download.suffix}"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        return Stream(
            _encoded(first, chunks), held, media_type=download.media_type, headers=headers
        )

    def _finished(self) -> None:
        self.running -= 1


def _busy(slots: int) -> JSONResponse:
    message = f"too many downloads at once (this server runs {slots}); retry in a moment"
    extensions = {"code": "UNAVAILABLE", "retryAfter": RETRY_AFTER_SECONDS}
    return error_response(message, extensions, 503, **{"Retry-After": str(RETRY_AFTER_SECONDS)})


def _database_failure(error: Exception) -> JSONResponse:
    """503 for a database that could not answer before the first byte; anything else
    is a fault of ours, raised on."""
    if is_statement_timeout(error):
        return graphql_error("the database is too slow right now", "TIMEOUT", 503)
    if is_unavailable(error):
        return unavailable_response(error)
    raise error


async def _encoded(first: str, rest: AsyncIterator[str]) -> AsyncIterator[bytes]:
    # Stored text is checked for lone surrogates on the way in; one that got past must
    # not end the stream.
    yield first.encode("utf-8", "replace")
    async for chunk in rest:
        yield chunk.encode("utf-8", "replace")


class Stream(StreamingResponse):
    """Releases what its chunks are read with (their snapshot's session and pooled
    connection) however the response ends. Not from inside the chunks' generator: when
    the client goes away, Starlette cancels the streaming task, and every await of the
    generator's clean-up would be cancelled again; nor is the generator closed at all."""

    def __init__(
        self, chunks: AsyncIterator[bytes], resources: AsyncExitStack, **options: Any
    ) -> None:
        super().__init__(chunks, **options)
        self.resources = resources

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.resources.aclose()


def download_routes(settings: Settings, database: Database) -> list[Route]:
    downloads = Downloads(settings, database)
    return [
        Route(
            f"/conversations/{{id:path}}/{download.name}",
            Authenticate(
                request_response(partial(downloads.respond, download)),
                settings,
                database,
                every_request=True,
            ),
            methods=["GET"],
        )
        for download in DOWNLOADS
    ]
