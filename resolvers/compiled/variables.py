"""Which variables of a document are per-request parameters of its plan, not its shape."""

from __future__ import annotations

from typing import Any

from graphql import ArgumentNode, DocumentNode, FieldNode, Node, VariableNode


def _variables_in(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, VariableNode):
        return [node.name.value]
    if isinstance(node, Node):
        for key in node.keys:
            child = getattr(node, key, None)
            for item in child if isinstance(child, tuple | list) else (child,):
                if isinstance(item, Node):
                    found.extend(_variables_in(item))
    return found


def id_variables(document: DocumentNode) -> frozenset[str]:
    """Variables used nowhere but as `conversation(id:)` (the only field of that name
    with an `id`: Query.conversation): the plan takes them as parameters; every other
    variable may shape it (directives, page sizes, filters) and is part of its key."""
    as_id: set[str] = set()
    elsewhere: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, FieldNode):
            for argument in node.arguments or ():
                if (
                    node.name.value == "conversation"
                    and argument.name.value == "id"
                    and isinstance(argument.value, VariableNode)
                ):
                    as_id.add(argument.value.name.value)
                else:
                    elsewhere.update(_variables_in(argument))
            for directive in node.directives or ():
                elsewhere.update(_variables_in(directive))
            if node.selection_set is not None:
                visit(node.selection_set)
            return
        if isinstance(node, ArgumentNode | VariableNode):
            elsewhere.update(_variables_in(node))
            return
        if isinstance(node, Node):
            for key in node.keys:
                if key == "variable_definitions":
                    continue
                child = getattr(node, key, None)
                for item in child if isinstance(child, tuple | list) else (child,):
                    if isinstance(item, Node):
                        visit(item)

    visit(document)
    return frozenset(as_id - elsewhere)
