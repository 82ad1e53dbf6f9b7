"""The request limits of a schema: a document's tokens, depth and aliases (and
introspection, when it is off), as validation rules and the extensions adding them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import cast

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    ValidationRule,
)
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension

from config import Settings


class Measure:
    """Depth and alias count of selection sets, each fragment measured once.

    Depth counts the fields that have a selection below them, introspection (`__`)
    fields not included (graphql-core bounds those); aliases are counted again at
    each spread of the fragment holding them. Strawberry's QueryDepthLimiter and
    MaxAliasesLimiter measure the same, but walk a fragment again at every spread:
    fragments that spread the next one twice, thirty deep, would keep a worker busy
    for hours; and QueryDepthLimiter fails on `{}` and on unknown fragments.
    """

    def __init__(self, document: DocumentNode, alias_cap: int) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        # Counting stops past the cap: a count can grow exponentially with spreads.
        self.alias_cap = alias_cap
        self.measured: dict[str, tuple[int, int]] = {}

    def selections(self, selection_set: SelectionSetNode | None) -> tuple[int, int]:
        depth = aliases = 0
        for selection in selection_set.selections if selection_set else ():
            below, below_aliases = self.selection(selection)
            depth, aliases = max(depth, below), aliases + below_aliases
        return depth, min(aliases, self.alias_cap)

    def selection(self, selection: SelectionNode) -> tuple[int, int]:
        if isinstance(selection, FragmentSpreadNode):
            return self.fragment(selection.name.value)
        if isinstance(selection, InlineFragmentNode):
            return self.selections(selection.selection_set)
        field = cast(FieldNode, selection)
        below, aliases = self.selections(field.selection_set)
        aliases += field.alias is not None
        if field.selection_set is None or field.name.value.startswith("__"):
            return 0, aliases
        return 1 + below, aliases

    def fragment(self, name: str) -> tuple[int, int]:
        if name not in self.measured:
            # Meanwhile (a cycle), or for good (unknown): nothing; graphql-core reports both.
            self.measured[name] = (0, 0)
            fragment = self.fragments.get(name)
            if fragment is not None:
                self.measured[name] = self.selections(fragment.selection_set)
        return self.measured[name]


def size_rule(max_depth: int, max_aliases: int) -> type[ASTValidationRule]:
    """A rule refusing operations deeper than `max_depth` and documents with more
    than `max_aliases` aliases."""

    class DocumentSize(ValidationRule):
        # On entering the document, not in __init__ as Strawberry's rules do: while
        # graphql-core visits, fragments nested too deeply abort validation first,
        # and a RecursionError becomes "Validation aborted" instead of escaping.
        def enter_document(self, document: DocumentNode, *_args: object) -> None:
            measure = Measure(document, max_aliases + 1)
            aliases = 0
            for operation in document.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                depth, operation_aliases = measure.selections(operation.selection_set)
                aliases += operation_aliases
                if depth > max_depth:
                    name = f"'{operation.name.value}'" if operation.name else "anonymous"
                    message = f"The {name} operation is {depth} levels deep"
                    self.report_error(
                        GraphQLError(f"{message}, past the limit of {max_depth}", operation)
                    )
            if aliases > max_aliases:
                message = f"The document has more than {max_aliases} aliases"
                self.report_error(
                    GraphQLError(f"{message} (a fragment's count again at each spread)")
                )

    return DocumentSize


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """Validation rules for the limits on a document's depth and aliases (and on
    introspection, when it is off).

    Made once per schema, not per request: ValidationCache keys on the rule classes,
    so new classes for each request would make every request miss the cache.
    """
    rules = [size_rule(settings.max_query_depth, settings.max_aliases)]
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """The request limits of `settings`, as extensions (a fresh instance per request)."""
    rules = limit_rules(settings)
    return [
        # Counted while parsing: a document past the limit is not parsed further.
        partial(MaxTokensLimiter, settings.max_query_tokens),
        partial(AddValidationRules, rules),
    ]
