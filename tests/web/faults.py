"""Faults no client input can cause, for tests of how unexpected errors are handled."""

from __future__ import annotations

from sqlalchemy import text
from starlette.applications import Starlette

from tests import factories
from tests.graphql_client import GraphQLClient

# Reads the component that unreadable_component spoiled: a masked INTERNAL_SERVER_ERROR.
FAILING_QUERY = "{ components { edges { node { key } } } }"


async def unreadable_component(app: Starlette, gql: GraphQLClient) -> None:
    """A component whose stored type the code does not know (as a row written by a newer
    release would be): loading it fails inside a resolver."""
    await factories.component_version(gql, "summarize", {"text": "Summarize."})
    async with app.state.engine.begin() as connection:
        await connection.execute(text("UPDATE components SET type = 'NOT_A_TYPE'"))
