"""The GraphQL schema: types per domain, assembled here with its extensions."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.extensions import ValidationCache
from strawberry.schema.config import StrawberryConfig

# Registers the stored enumerations with Strawberry before any type uses them.
import schema.enums as _enums  # noqa: F401
from schema.agent import AgentSession
from schema.errors import ErrorCodes
from schema.events import EVENT_TYPES
from schema.input_guard import InputGuard
from schema.mutation import Mutation
from schema.query import Query
from schema.scalars import UTCDateTime
from schema.subscription import Subscription


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[*EVENT_TYPES, AgentSession],
        # Clients send the same few documents again and again (every subscriber of a
        # page sends one): validate each once. (Strawberry's ParserCache would skip our
        # error codes on syntax errors, and parsing costs far less than validation.)
        extensions=[ErrorCodes, ValidationCache, InputGuard],
        config=StrawberryConfig(auto_camel_case=True),
        scalar_overrides={datetime: UTCDateTime},
    )


schema = build_schema()
