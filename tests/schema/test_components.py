"""Content-addressed component versions and their links to spans, through /graphql."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient

VERSION_FIELDS = (
    "id contentHash versionNumber definition component { id key type name versionCount }"
)
REGISTER = factories.mutation_document("registerComponentVersion", "id")
LINK = """mutation($s: ID!, $v: [ID!]!) { linkSpanComponentVersions(spanId: $s,
            componentVersionIds: $v) { id componentVersions { id } } }"""
PROMPT = {
    "template": "Summarize: {text}",
    "variables": ["text"],
    "options": {"max": 3, "lang": "en"},
}


def sha256_of_canonical_json(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def reordered(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


async def register(gql: GraphQLClient, key: str, definition: Any, **input: Any) -> Any:
    payload = {"componentKey": key, "type": "PROMPT", "definition": definition, **input}
    return await factories.mutate(gql, "registerComponentVersion", payload, VERSION_FIELDS)


async def component_count(gql: GraphQLClient) -> int:
    count: int = (await gql.data("{ components { totalCount } }"))["components"]["totalCount"]
    return count


async def a_span(gql: GraphQLClient, **input: Any) -> Any:
    conv = await factories.conversation(gql)
    trace = await factories.trace(gql, conv["id"])
    return await factories.span(gql, trace["id"], **input)


async def test_first_version_is_number_one_keyed_by_its_hash(gql: GraphQLClient) -> None:
    version = await register(gql, "summarize", PROMPT)
    assert version["versionNumber"] == 1
    assert len(version["contentHash"]) == 64
    assert all(c in "0123456789abcdef" for c in version["contentHash"])
    assert version["contentHash"] == sha256_of_canonical_json(PROMPT)
    assert version["definition"] == PROMPT
    assert version["component"]["key"] == "summarize"
    assert version["component"]["type"] == "PROMPT"
    assert version["component"]["name"] == "summarize"  # defaults to the key
    assert version["component"]["versionCount"] == 1


async def test_hash_keeps_unicode_as_utf8(gql: GraphQLClient) -> None:
    definition = {"greeting": "grüß dich", "emoji": "🙂"}
    version = await register(gql, "greet", definition)
    assert version["contentHash"] == sha256_of_canonical_json(definition)
    escaped = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    assert version["contentHash"] != hashlib.sha256(escaped.encode()).hexdigest()


async def test_same_definition_returns_the_same_version(gql: GraphQLClient) -> None:
    first = await register(gql, "summarize", PROMPT, name="Summarizer")
    shuffled = reordered(PROMPT)
    assert list(shuffled) != list(PROMPT)
    again = await register(gql, "summarize", shuffled)
    assert again["id"] == first["id"]
    assert again["versionNumber"] == 1
    assert again["contentHash"] == first["contentHash"]
    assert again["component"]["versionCount"] == 1
    assert again["component"]["name"] == "Summarizer"
    assert await component_count(gql) == 1


async def test_integral_floats_hash_as_integers(gql: GraphQLClient) -> None:
    """1 and 1.0 are one JSON number: one hash, one version; the first spelling is kept."""
    first = await register(gql, "tuned", {"t": 1, "n": [2.0, {"x": -0.0, "y": 1e20}]})
    again = await register(gql, "tuned", {"t": 1.0, "n": [2, {"x": 0, "y": 10**20}]})
    assert again["id"] == first["id"]
    assert again["component"]["versionCount"] == 1
    assert first["contentHash"] == sha256_of_canonical_json(
        {"t": 1, "n": [2, {"x": 0, "y": 10**20}]}
    )
    assert again["definition"] == {"t": 1, "n": [2.0, {"x": -0.0, "y": 1e20}]}
    assert isinstance(again["definition"]["n"][0], float)  # stored as first given
    fraction = await register(gql, "tuned", {"t": 1.5, "n": [2, {"x": 0, "y": 10**20}]})
    assert fraction["versionNumber"] == 2


async def test_new_definitions_get_the_next_numbers_in_order(gql: GraphQLClient) -> None:
    v1 = await register(gql, "summarize", PROMPT)
    v2 = await register(gql, "summarize", {**PROMPT, "template": "TL;DR: {text}"})
    v3 = await register(gql, "summarize", [PROMPT])
    assert [v["versionNumber"] for v in (v1, v2, v3)] == [1, 2, 3]
    assert len({v1["contentHash"], v2["contentHash"], v3["contentHash"]}) == 3
    # An old definition again is still its old version, not a fourth one.
    assert (await register(gql, "summarize", PROMPT))["id"] == v1["id"]
    # Another key numbers its versions from 1.
    other = await register(gql, "translate", PROMPT)
    assert other["versionNumber"] == 1
    assert other["contentHash"] == v1["contentHash"]
    assert other["id"] != v1["id"]

    found = await gql.data(
        'query { component(key: "summarize") { versionCount versions { id versionNumber } } }'
    )
    assert found["component"] == {
        "versionCount": 3,
        "versions": [
            {"id": v1["id"], "versionNumber": 1},
            {"id": v2["id"], "versionNumber": 2},
            {"id": v3["id"], "versionNumber": 3},
        ],
    }


async def test_component_version_by_hash(gql: GraphQLClient) -> None:
    v1 = await register(gql, "summarize", PROMPT)
    v2 = await register(gql, "summarize", {"template": "other"})
    other = await register(gql, "translate", {"template": "other"})
    component_id = v1["component"]["id"]
    query = "query($c: ID!, $h: String!) { componentVersion(componentId: $c, hash: $h) { id } }"

    async def by_hash(component: str, digest: str) -> Any:
        found = await gql.data(query, {"c": component, "h": digest})
        return found["componentVersion"]

    assert await by_hash(component_id, v1["contentHash"]) == {"id": v1["id"]}
    assert await by_hash(component_id, v2["contentHash"]) == {"id": v2["id"]}
    assert await by_hash(component_id, v2["contentHash"].upper()) == {"id": v2["id"]}
    assert await by_hash(other["component"]["id"], v2["contentHash"]) == {"id": other["id"]}
    assert await by_hash(component_id, "0" * 64) is None
    assert await by_hash(to_global_id("Component", uuid.uuid4()), v1["contentHash"]) is None
    assert await gql.error_code(query, {"c": v1["id"], "h": v1["contentHash"]}) == "BAD_USER_INPUT"


async def test_component_version_by_key_and_hash(gql: GraphQLClient) -> None:
    v1 = await register(gql, "summarize", PROMPT)
    other = await register(gql, "translate", PROMPT)
    query = """query($c: ID, $k: String, $h: String!) {
                 componentVersion(componentId: $c, componentKey: $k, hash: $h) { id } }"""

    async def by_key(key: str, digest: str) -> Any:
        return (await gql.data(query, {"k": key, "h": digest}))["componentVersion"]

    assert await by_key("summarize", v1["contentHash"]) == {"id": v1["id"]}
    assert await by_key("translate", v1["contentHash"].upper()) == {"id": other["id"]}
    assert await by_key("SUMMARIZE", v1["contentHash"]) is None  # keys are exact
    assert await by_key("nope", v1["contentHash"]) is None
    both = {"c": v1["component"]["id"], "k": "summarize", "h": v1["contentHash"]}
    for variables in (both, {"h": v1["contentHash"]}, {"c": None, "k": None, "h": "0"}):
        assert await gql.error_code(query, variables) == "BAD_USER_INPUT", variables


async def test_component_by_key_or_by_id(gql: GraphQLClient) -> None:
    version = await register(gql, "summarize", PROMPT)
    component = version["component"]
    fields = "id key type name versionCount"
    by_key = await gql.data(f'query {{ component(key: "summarize") {{ {fields} }} }}')
    by_id = await gql.data(
        f"query($id: ID!) {{ component(id: $id) {{ {fields} }} }}", {"id": component["id"]}
    )
    assert by_key["component"] == by_id["component"] == component
    assert (await gql.data('query { component(key: "nothing") { id } }'))["component"] is None
    unknown = to_global_id("Component", uuid.uuid4())
    found = await gql.data("query($id: ID!) { component(id: $id) { id } }", {"id": unknown})
    assert found["component"] is None


async def test_component_needs_exactly_one_of_id_and_key(gql: GraphQLClient) -> None:
    version = await register(gql, "summarize", PROMPT)
    both = 'query($id: ID) { component(id: $id, key: "summarize") { id } }'
    assert await gql.error_code(both, {"id": version["component"]["id"]}) == "BAD_USER_INPUT"
    assert await gql.error_code("query { component { id } }") == "BAD_USER_INPUT"
    assert await gql.error_code("query { component(id: null, key: null) { id } }") == (
        "BAD_USER_INPUT"
    )
    wrong_type = "query($id: ID) { component(id: $id) { id } }"
    assert await gql.error_code(wrong_type, {"id": version["id"]}) == "BAD_USER_INPUT"


async def test_components_connection_filters(gql: GraphQLClient) -> None:
    await register(gql, "summarize-prompt", PROMPT)
    await factories.component_version(gql, "web_search", {"url": "x"}, type="TOOL")
    await factories.component_version(gql, "gpt-config", {"model": "x"}, type="MODEL_CONFIG")
    await factories.component_version(gql, "xlate-Prompt", {"to": "fr"})
    await factories.component_version(gql, "100%_tool", {"x": 1}, type="TOOL")
    query = """query($f: ComponentFilter, $first: Int) { components(filter: $f, first: $first) {
                 totalCount nodes { key type } pageInfo { hasNextPage } } }"""

    async def keys(filter: dict[str, Any] | None) -> list[str]:
        found = (await gql.data(query, {"f": filter}))["components"]
        assert found["totalCount"] == len(found["nodes"])
        return [node["key"] for node in found["nodes"]]

    everything = ["100%_tool", "gpt-config", "summarize-prompt", "web_search", "xlate-Prompt"]
    assert await keys(None) == everything  # by key
    assert await keys({"types": ["TOOL"]}) == ["100%_tool", "web_search"]
    assert await keys({"types": ["TOOL", "MODEL_CONFIG"]}) == [
        "100%_tool",
        "gpt-config",
        "web_search",
    ]
    assert await keys({"types": ["AGENT"]}) == []
    # Case-insensitive, and % and _ are plain characters.
    assert await keys({"keyContains": "PROMPT"}) == ["summarize-prompt", "xlate-Prompt"]
    assert await keys({"keyContains": "%_"}) == ["100%_tool"]
    assert await keys({"keyContains": "_"}) == ["100%_tool", "web_search"]
    assert await keys({"keyContains": "prompt", "types": ["TOOL"]}) == []

    page = (await gql.data(query, {"f": None, "first": 2}))["components"]
    assert page["totalCount"] == 5
    assert [node["key"] for node in page["nodes"]] == everything[:2]
    assert page["pageInfo"]["hasNextPage"] is True


async def test_an_existing_key_keeps_its_type(gql: GraphQLClient) -> None:
    version = await register(gql, "summarize", PROMPT)
    input = {"componentKey": "summarize", "type": "TOOL", "definition": {"new": True}}
    assert await gql.error_code(REGISTER, {"input": input}) == "CONFLICT"
    found = await gql.data(
        'query { component(key: "summarize") { type versionCount versions { id } } }'
    )
    assert found["component"] == {
        "type": "PROMPT",
        "versionCount": 1,
        "versions": [{"id": version["id"]}],
    }
    assert await component_count(gql) == 1


@pytest.mark.parametrize("key", ["", "   "])
async def test_blank_key_is_rejected(gql: GraphQLClient, key: str) -> None:
    input = {"componentKey": key, "type": "PROMPT", "definition": PROMPT}
    assert await gql.error_code(REGISTER, {"input": input}) == "BAD_USER_INPUT"
    assert await component_count(gql) == 0


async def test_span_links_to_versions_at_start(gql: GraphQLClient) -> None:
    v1 = await register(gql, "summarize", PROMPT)
    tool = await factories.component_version(gql, "search", {"url": "x"}, type="TOOL")
    span = await a_span(
        gql,
        fields="id componentVersions { id component { key } }",
        componentVersionIds=[v1["id"], tool["id"], v1["id"]],
    )
    assert sorted(v["id"] for v in span["componentVersions"]) == sorted([v1["id"], tool["id"]])
    assert {v["component"]["key"] for v in span["componentVersions"]} == {"summarize", "search"}
    query = """query($v: ID!) { node(id: $v) { ... on ComponentVersion {
                 spans { totalCount nodes { id } } component { key } } } }"""
    used = (await gql.data(query, {"v": v1["id"]}))["node"]
    assert used == {
        "spans": {"totalCount": 1, "nodes": [{"id": span["id"]}]},
        "component": {"key": "summarize"},
    }


async def test_linking_versions_is_idempotent(gql: GraphQLClient) -> None:
    v1 = await register(gql, "summarize", PROMPT)
    v2 = await register(gql, "summarize", {"template": "v2"})
    tool = await factories.component_version(gql, "search", {"url": "x"}, type="TOOL")
    span = await a_span(gql, componentVersionIds=[v1["id"]])
    other_span = await a_span(gql)

    linked = await gql.data(LINK, {"s": span["id"], "v": [v1["id"], v2["id"]]})
    assert {v["id"] for v in linked["linkSpanComponentVersions"]["componentVersions"]} == {
        v1["id"],
        v2["id"],
    }
    again = await gql.data(LINK, {"s": span["id"], "v": [v2["id"], v1["id"], v2["id"]]})
    assert len(again["linkSpanComponentVersions"]["componentVersions"]) == 2
    await gql.data(LINK, {"s": other_span["id"], "v": [v1["id"], tool["id"]]})

    query = """query($v: ID!) { node(id: $v) { ... on ComponentVersion {
                 spans { totalCount nodes { id } } } } }"""

    async def spans_of(version: dict[str, Any]) -> Any:
        return (await gql.data(query, {"v": version["id"]}))["node"]["spans"]

    assert (await spans_of(v1))["totalCount"] == 2
    assert {n["id"] for n in (await spans_of(v1))["nodes"]} == {span["id"], other_span["id"]}
    assert await spans_of(v2) == {"totalCount": 1, "nodes": [{"id": span["id"]}]}
    assert await spans_of(tool) == {"totalCount": 1, "nodes": [{"id": other_span["id"]}]}


async def test_link_rejections_write_nothing(gql: GraphQLClient) -> None:
    v1 = await register(gql, "summarize", PROMPT)
    span = await a_span(gql)
    unknown_version = to_global_id("ComponentVersion", uuid.uuid4())
    unknown_span = to_global_id("Span", uuid.uuid4())
    assert (
        await gql.error_code(LINK, {"s": span["id"], "v": [v1["id"], unknown_version]})
        == "NOT_FOUND"
    )
    assert await gql.error_code(LINK, {"s": unknown_span, "v": [v1["id"]]}) == "NOT_FOUND"
    assert await gql.error_code(LINK, {"s": span["id"], "v": []}) == "BAD_USER_INPUT"
    assert await gql.error_code(LINK, {"s": span["id"], "v": [span["id"]]}) == "BAD_USER_INPUT"
    assert await gql.error_code(LINK, {"s": v1["id"], "v": [v1["id"]]}) == "BAD_USER_INPUT"
    found = await gql.data(
        "query($s: ID!) { span(id: $s) { componentVersions { id } } }", {"s": span["id"]}
    )
    assert found["span"]["componentVersions"] == []


async def test_key_contains_folds_case_beyond_ascii(gql: GraphQLClient) -> None:
    for key in ("ÉCOLE-prompt", "ecole-tool"):
        await factories.component_version(gql, key, {"v": 1})
    query = "query($f: ComponentFilter) { components(filter: $f) { nodes { key } } }"
    found = await gql.data(query, {"f": {"keyContains": "école"}})
    assert [node["key"] for node in found["components"]["nodes"]] == ["ÉCOLE-prompt"]
