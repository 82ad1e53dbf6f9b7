"""What a query selects, read from strawberry's selected fields."""

from __future__ import annotations

from strawberry.types.nodes import SelectedField, Selection


def asks_for(selections: list[Selection], *names: str) -> bool:
    """Whether a selection set (its fragments included) selects any of the fields `names`."""
    return any(
        s.name in names if isinstance(s, SelectedField) else asks_for(s.selections, *names)
        for s in selections
    )
