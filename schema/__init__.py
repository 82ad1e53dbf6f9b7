"""The GraphQL schema: types per domain, assembled by build_schema with its extensions.

Importing this package builds nothing: call build_schema(settings).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

import strawberry
from strawberry.extensions import ValidationCache
from strawberry.schema.config import StrawberryConfig

# Registers the stored enumerations with Strawberry before any type uses them.
import schema.enums as _enums  # noqa: F401
from config import Settings
from resolvers.compiled.cache import ReadPlans
from resolvers.json_limits import JsonLimits
from schema.agent import AgentSession
from schema.compiled_reads import CompiledReads
from schema.errors import ErrorCodes
from schema.events import EVENT_TYPES
from schema.input_guard import InputGuard
from schema.mutation import Mutation
from schema.parsing import ParseCache
from schema.query import Query
from schema.scalars import LONG, Long, UTCDateTime
from schema.scopes import ScopeGuard
from schema.sharing import SharingSchema
from schema.subscription import Subscription
from schema.validation_rules import limit_extensions


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema, limited as `settings` say (by default, as Settings() does)."""
    settings = Settings() if settings is None else settings
    return SharingSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[*EVENT_TYPES, AgentSession],
        # Clients send the same few documents again and again (every subscriber of a
        # page sends one): parse and validate each once. The limits set the parser's
        # token limit and add their rules before these run.
        extensions=[
            # Suggestions ("Did you mean 'messages'?") would tell the schema all the same.
            partial(ErrorCodes, suggestions=settings.introspection),
            *limit_extensions(settings),
            ParseCache,
            ValidationCache,
            partial(InputGuard, JsonLimits.of(settings)),
            ScopeGuard,
            # Last: it answers only what every check above let through; one plan cache
            # per schema.
            partial(CompiledReads, ReadPlans()),
        ],
        config=StrawberryConfig(auto_camel_case=True),
        scalar_overrides={datetime: UTCDateTime, Long: LONG},
        max_query_tokens=settings.max_query_tokens,
    )
