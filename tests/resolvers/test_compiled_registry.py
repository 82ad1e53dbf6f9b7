"""What the compiled read path claims to know is what the schema has: every field of its
registry (resolvers/compiled/fields.py) exists with the same arguments, and every type
whose columns it copies (render.TABLE_TYPES) is an object type named after its table.
Without this, a field renamed or given a new argument in the schema would quietly
stop taking the compiled path (the planner steps aside from a field whose arguments
differ from its registry's)."""

from __future__ import annotations

import pytest
from graphql import GraphQLObjectType, get_named_type

import models
from resolvers.compiled.fields import FIELDS
from resolvers.compiled.render import TABLE_TYPES
from schema import build_schema

SCHEMA = build_schema()._schema


def object_type(name: str) -> GraphQLObjectType:
    found = SCHEMA.get_type(name)
    assert isinstance(found, GraphQLObjectType), f"{name} is not an object type of the schema"
    return found


@pytest.mark.parametrize(("type_name", "field_name"), sorted(FIELDS))
def test_every_compiled_field_is_in_the_schema_with_its_arguments(
    type_name: str, field_name: str
) -> None:
    fields = object_type(type_name).fields
    assert field_name in fields, f"{type_name}.{field_name} is not in the schema"
    assert set(fields[field_name].args) == FIELDS[type_name, field_name].arguments, (
        f"{type_name}.{field_name}: the compiled path knows other arguments than the schema's"
    )


@pytest.mark.parametrize("type_name", sorted(TABLE_TYPES))
def test_every_table_type_is_an_object_type_over_its_table(type_name: str) -> None:
    object_type(type_name)
    assert hasattr(getattr(models, type_name, None), "__table__"), (
        f"{type_name} is not a table model in `models`"
    )


def test_every_type_a_compiled_field_returns_is_compiled_too() -> None:
    """A known field's objects are table types or connections of them (whose nodes are)."""
    for (type_name, field_name), _known in FIELDS.items():
        returned = get_named_type(object_type(type_name).fields[field_name].type)
        if returned.name in TABLE_TYPES:
            continue
        assert isinstance(returned, GraphQLObjectType), (type_name, field_name)
        assert {"totalCount", "nodes"} <= returned.fields.keys(), (type_name, field_name)
        nodes = get_named_type(returned.fields["nodes"].type)
        assert nodes.name in TABLE_TYPES, (type_name, field_name, nodes.name)
