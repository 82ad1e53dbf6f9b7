"""Who sends each request: HTTP requests are authenticated before GraphQL runs,
WebSockets when their connection_init arrives."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from config import Settings
from resolvers.credentials import authenticate, credential_from
from resolvers.db import Database, brief, is_unavailable
from resolvers.errors import RETRY_AFTER_SECONDS, Unauthenticated
from resolvers.principal import Principal
from schema.errors import unavailable
from web.request_id import current as current_request_id

log = logging.getLogger(__name__)
PRINCIPAL = "threadline.principal"


def principal_of(scope: Scope) -> Principal:
    """The request's principal; one that sees nothing where no operation runs (the IDE)."""
    found: Principal | None = scope.get(PRINCIPAL)
    return found if found is not None else Principal.nobody()


def graphql_error(message: str, code: str, status: int, **headers: str) -> JSONResponse:
    """An error response shaped as GraphQL's, for requests refused before execution."""
    return error_response(message, {"code": code}, status, **headers)


def error_response(
    message: str, extensions: Mapping[str, object], status: int, **headers: str
) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": dict(extensions)}]}
    return JSONResponse(body, status_code=status, headers=headers or None)


def unavailable_response(error: BaseException) -> JSONResponse:
    """503 for a request whose credential could not be checked: the database is down.
    Its requestId is the request's X-Request-ID, as a masked error's is."""
    request_id = current_request_id.get()
    log.warning("database unavailable (request %s) authenticating: %s", request_id, brief(error))
    message, extensions = unavailable(request_id)
    return error_response(message, extensions, 503, **{"Retry-After": str(RETRY_AFTER_SECONDS)})


class Authenticate:
    """ASGI middleware for the GraphQL route (and, `every_request`, for routes that read
    on any request, not only when they run an operation): resolves the credential, or
    answers 401."""

    def __init__(
        self, app: ASGIApp, settings: Settings, database: Database, *, every_request: bool = False
    ) -> None:
        self.app = app
        self.settings = settings
        self.database = database
        self.every_request = every_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (self.every_request or _runs_an_operation(scope)):
            try:
                credential = credential_from(Headers(scope=scope))
                principal = await authenticate(credential, self.settings, self.database)
            except Unauthenticated as exc:
                response = graphql_error(
                    exc.message, exc.code, 401, **{"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
            except Exception as exc:  # an API key is looked up in the database
                if not is_unavailable(exc):
                    raise
                await unavailable_response(exc)(scope, receive, send)
                return
            scope = {**scope, PRINCIPAL: principal}
        await self.app(scope, receive, send)


def _runs_an_operation(scope: Scope) -> bool:
    # A GET without a query only serves the GraphiQL page, which browsers load without
    # credentials; everything else may execute an operation.
    return scope["method"] != "GET" or "query" in QueryParams(scope["query_string"])


async def websocket_principal(
    params: Mapping[str, Any] | None, settings: Settings, database: Database
) -> Principal:
    """The principal named by a connection_init payload: `{"Authorization": "Bearer ..."}`
    or `{"apiKey": "tl_..."}` (header-like keys in any case)."""
    headers = {str(k).lower(): v for k, v in (params or {}).items() if isinstance(v, str)}
    if "apikey" in headers:
        headers["x-api-key"] = headers["apikey"]
    return await authenticate(credential_from(headers), settings, database)
