"""The pages people open: the live viewer at /, and GraphiQL at /graphql.

Both are served from the app's own files, so they work with no internet access: the
viewer is plain HTML and JavaScript (web/static), and GraphiQL's browser build comes
from the npm registry at build time (`make assets` runs `npm ci` in web/graphiql, from
its package-lock.json). The pages may load and connect to this origin only (CSP).
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from config import Settings

log = logging.getLogger("threadline")
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PACKAGES = HERE / "graphiql" / "node_modules"
# The browser files GraphiQL's page asks for, by name, and where npm puts them.
GRAPHIQL_FILES = {
    "react.js": PACKAGES / "react/umd/react.production.min.js",
    "react-dom.js": PACKAGES / "react-dom/umd/react-dom.production.min.js",
    "graphiql.js": PACKAGES / "graphiql/graphiql.min.js",
    "graphiql.css": PACKAGES / "graphiql/graphiql.min.css",
}
NOT_INSTALLED = "GraphiQL's files are not installed: run `make assets` (npm ci in web/graphiql)"
# GraphiQL and its editor set inline styles; nothing else needs an exception.
CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CSP}


@cache
def _page(name: str) -> str:
    return (STATIC / name).read_text()


def graphiql_page() -> HTMLResponse:
    return HTMLResponse(_page("graphiql.html"), headers=HEADERS)


async def viewer(request: Request) -> Response:
    return HTMLResponse(_page("viewer.html"), headers=HEADERS)


async def graphiql_file(request: Request) -> Response:
    path = GRAPHIQL_FILES.get(request.path_params["name"])
    if path is None:
        return PlainTextResponse("Not Found", status_code=404)
    if not path.is_file():
        return PlainTextResponse(NOT_INSTALLED, status_code=404)
    return FileResponse(path)


def page_routes(settings: Settings) -> list[BaseRoute]:
    """The viewer and its files; GraphiQL's files when GraphiQL is on."""
    routes: list[BaseRoute] = [
        Route("/", viewer, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if settings.graphiql:
        routes.append(Route("/graphiql/{name}", graphiql_file, methods=["GET"]))
        if not all(path.is_file() for path in GRAPHIQL_FILES.values()):
            log.warning(NOT_INSTALLED)
    return routes
