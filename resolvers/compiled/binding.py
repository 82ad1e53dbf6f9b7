"""What the planner asks of the GraphQL layer, which owns the types.

The planner walks graphql-core objects (the GraphQLSchema, field nodes); what only the
layer that defined the types knows (how an argument becomes a Python value, which field
is a plain copy of a column, how `filter`/`orderBy` become a plain query) it asks
through this interface, implemented by the hook (schema/compiled_reads.py). So this
package never imports `schema`.
"""

from __future__ import annotations

from typing import Any, Protocol

from graphql import FieldNode, GraphQLField, GraphQLSchema
from graphql.execution import VariableValues

from resolvers.reads import ConversationQuery


class SchemaBinding(Protocol):
    @property
    def graphql(self) -> GraphQLSchema:
        """The executable schema the operation runs against."""
        ...

    def arguments(
        self, field: GraphQLField, node: FieldNode, variables: VariableValues
    ) -> dict[str, Any]:
        """The field's arguments as its resolver receives them (Python names and types)."""
        ...

    def python_name(self, field: GraphQLField) -> str | None:
        """The attribute a field without a resolver copies from its object; None when
        the field has a resolver."""
        ...

    def conversation_query(self, filter: Any, order_by: Any) -> ConversationQuery:
        """Query.conversations' `filter` and `orderBy` (as `arguments` gives them), as
        resolvers.reads takes them, the list's defaults applied; BadInput for a filter the
        normal path refuses."""
        ...
