"""Each distinct document parsed once, not on every request.

Clients send the same few documents again and again (every subscriber of a page, every
poll); parsing one costs about a millisecond. Strawberry's ParserCache parses in the
extension itself, where a syntax error escapes the handling that gives it its code;
here a document that does not parse is not cached and is left to Strawberry, so its
error is what it would have been.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension


@lru_cache(maxsize=256)  # bounded: unique texts cannot grow it
def parsed(query: str, max_tokens: int | None) -> DocumentNode:
    """The document of `query`, parsed once; a GraphQLError where it does not parse.

    Shared by every reader of a request's document: the GraphQL route's own checks
    (is it a mutation sent with GET, a subscription sent over HTTP?), the sharing of
    subscriptions, and execution.
    """
    return parse(query, max_tokens=max_tokens)


class ParseCache(SchemaExtension):
    """Must follow MaxTokensLimiter, whose limit is the parse option read here."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        options = context.parse_options
        if (
            context.graphql_document is None
            and context.query is not None
            and options.keys() <= {"max_tokens"}
        ):
            with contextlib.suppress(GraphQLError):
                context.graphql_document = parsed(context.query, options.get("max_tokens"))
        yield
