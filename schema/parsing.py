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
from typing import Any

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension


@lru_cache(maxsize=256)  # bounded: unique texts cannot grow it
def _parsed(query: str, options: tuple[tuple[str, Any], ...]) -> DocumentNode:
    return parse(query, **dict(options))


class ParseCache(SchemaExtension):
    """Must follow MaxTokensLimiter, whose limit is one of the parse options."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query is not None:
            options = tuple(sorted(context.parse_options.items()))
            with contextlib.suppress(GraphQLError):
                context.graphql_document = _parsed(context.query, options)
        yield
