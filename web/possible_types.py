"""GET /graphql/possible-types.json: Apollo Client's `possibleTypes` for this schema.

Apollo's InMemoryCache cannot tell which concrete types an interface or union stands
for, and drops fields selected through one (`... on EventWithText { text }`) from the
results it stores, subscription events included, unless it is given this map:
`new InMemoryCache({ possibleTypes: await (await fetch(url)).json() })`.

It says what introspection says and nothing else, so it is served as introspection is:
while INTROSPECTION is on, to whoever may send /graphql a request (with authentication
on, a valid credential, else 401), to nobody (404) when it is off.
"""

from __future__ import annotations

from typing import cast

import strawberry
from graphql import GraphQLInterfaceType, GraphQLSchema, GraphQLUnionType
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from strawberry.schema.base import BaseSchema

from config import Settings
from resolvers.db import Database
from web.authentication import Authenticate

PATH = "/graphql/possible-types.json"


def possible_types(schema: GraphQLSchema) -> dict[str, list[str]]:
    """Each interface and union (but introspection's own) by name: its object types."""
    return {
        name: sorted(found.name for found in schema.get_possible_types(named))
        for name, named in sorted(schema.type_map.items())
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType) and not name.startswith("__")
    }


def possible_types_routes(
    settings: Settings, schema: BaseSchema, database: Database
) -> list[Route]:
    if not settings.introspection:
        return []  # 404, as the route does not exist
    # The app's schema is a strawberry.Schema (schema.build_schema), over graphql-core's.
    body = possible_types(cast(strawberry.Schema, schema)._schema)

    async def serve(_request: Request) -> Response:
        return JSONResponse(body, headers={"Cache-Control": "no-cache"})

    endpoint = Authenticate(request_response(serve), settings, database, every_request=True)
    return [Route(PATH, endpoint, methods=["GET"])]
