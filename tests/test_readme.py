"""The GraphQL examples in README.md are valid against the schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import parse, validate

from schema import build_schema

SCHEMA = build_schema()

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLES = re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_a_query_a_mutation_and_a_subscription() -> None:
    kinds = {example.lstrip().split()[0] for example in EXAMPLES}
    assert {"query", "mutation", "subscription"} <= kinds


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.split("{")[0].strip())
def test_readme_example_is_valid(example: str) -> None:
    errors = validate(SCHEMA._schema, parse(example))
    assert errors == [], errors
