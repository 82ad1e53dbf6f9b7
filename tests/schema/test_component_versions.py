"""Component version labels, descriptions, tags, registrants and deprecation; the latest
version of a component and versions by label, through /graphql."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.identities import as_key, as_user, new_key, register_agent

FIELDS = (
    "id versionNumber versionName description tags createdById createdByType "
    "deprecated deprecatedAt deprecationReason component { versionCount }"
)
UPDATE = f"""mutation($id: ID!, $input: UpdateComponentVersionInput!) {{
  updateComponentVersion(id: $id, input: $input) {{ {FIELDS} }} }}"""
DEPRECATE = f"""mutation($id: ID!, $reason: String) {{
  deprecateComponentVersion(id: $id, reason: $reason) {{ {FIELDS} }} }}"""
UNDEPRECATE = f"mutation($id: ID!) {{ undeprecateComponentVersion(id: $id) {{ {FIELDS} }} }}"
COMPONENT = """query($key: String!, $name: String!, $all: Boolean!) { component(key: $key) {
  latestVersion { versionNumber } latestOrDeprecated: latestVersion(includeDeprecated: true) {
  versionNumber } version(name: $name) { versionNumber }
  versions(includeDeprecated: $all) { versionNumber } } }"""
BY_NAME = """query($key: String, $id: ID, $name: String, $hash: String) {
  componentVersion(componentKey: $key, componentId: $id, name: $name, hash: $hash) {
  id versionNumber versionName } }"""


async def register(gql: GraphQLClient, key: str, text: str, **input: Any) -> Any:
    payload = {"componentKey": key, "type": "PROMPT", "definition": {"text": text}, **input}
    return await factories.mutate(gql, "registerComponentVersion", payload, FIELDS)


def register_error(gql: GraphQLClient, key: str, text: str, **input: Any) -> Any:
    payload = {"componentKey": key, "type": "PROMPT", "definition": {"text": text}, **input}
    document = factories.mutation_document("registerComponentVersion", "id")
    return gql.error_code(document, {"input": payload})


async def component(gql: GraphQLClient, key: str, name: str = "-", all: bool = True) -> Any:
    return (await gql.data(COMPONENT, {"key": key, "name": name, "all": all}))["component"]


async def test_a_version_keeps_its_label_description_tags_and_registrant(
    gql: GraphQLClient,
) -> None:
    version = await register(
        gql, "p", "one", versionName="  v1 ", description="first", tags=["a", "b", "a"]
    )
    assert version["versionName"] == "v1"  # trimmed
    assert version["description"] == "first"
    assert version["tags"] == ["a", "b"]
    assert (version["createdById"], version["createdByType"]) == ("dev", "USER")
    assert (version["deprecated"], version["deprecatedAt"], version["deprecationReason"]) == (
        False,
        None,
        None,
    )
    plain = await register(gql, "p", "two")
    assert (plain["versionName"], plain["description"], plain["tags"]) == (None, None, [])


@pytest.mark.parametrize(
    "input",
    [
        {"versionName": "   "},
        {"versionName": "x" * 65},
        {"description": " "},
        {"tags": ["ok", " "]},
    ],
)
async def test_bad_labels_and_tags_are_refused(gql: GraphQLClient, input: dict[str, Any]) -> None:
    assert await register_error(gql, "p", "one", **input) == "BAD_USER_INPUT"
    assert await gql.data('{ component(key: "p") { id } }') == {"component": None}


async def test_a_label_of_64_characters_is_kept(gql: GraphQLClient) -> None:
    version = await register(gql, "p", "one", versionName="x" * 64)
    assert version["versionName"] == "x" * 64


async def test_a_label_names_one_version_of_its_component(gql: GraphQLClient) -> None:
    await register(gql, "p", "one", versionName="v1")
    assert await register_error(gql, "p", "two", versionName="v1") == "CONFLICT"
    error = await gql.error(
        factories.mutation_document("registerComponentVersion", "id"),
        {
            "input": {
                "componentKey": "p",
                "type": "PROMPT",
                "definition": {"x": 1},
                "versionName": "v1",
            }
        },
    )
    assert "'v1' is the label of version 1 of 'p'" in error["message"]
    # Nothing was written: the refused version took no number.
    assert (await register(gql, "p", "two"))["versionNumber"] == 2
    # Another component may use the same label.
    assert (await register(gql, "q", "one", versionName="v1"))["versionName"] == "v1"


async def test_registering_content_again_fills_in_what_its_version_lacks(
    gql: GraphQLClient,
) -> None:
    first = await register(gql, "p", "one", tags=["a"])
    again = await register(gql, "p", "one", versionName="v1", description="d", tags=["b", "a"])
    assert again["id"] == first["id"]
    assert (again["versionName"], again["description"], again["tags"]) == ("v1", "d", ["a", "b"])
    # Given as it is, or not given: the same version, unchanged.
    assert (await register(gql, "p", "one", versionName="v1"))["tags"] == ["a", "b"]
    assert (await register(gql, "p", "one"))["versionName"] == "v1"
    # A label or description it has already is not replaced by registering.
    assert await register_error(gql, "p", "one", versionName="v2") == "CONFLICT"
    assert await register_error(gql, "p", "one", description="other") == "CONFLICT"
    # Nor may content registered again take another version's label.
    await register(gql, "p", "two")
    assert await register_error(gql, "p", "two", versionName="v1") == "CONFLICT"
    assert (await component(gql, "p"))["versions"] == [{"versionNumber": 1}, {"versionNumber": 2}]


async def test_update_sets_changes_and_clears_labels(gql: GraphQLClient) -> None:
    one = await register(gql, "p", "one", versionName="v1", tags=["a"])
    two = await register(gql, "p", "two")
    changed = await gql.data(UPDATE, {"id": two["id"], "input": {"versionName": " v2 "}})
    version = changed["updateComponentVersion"]
    assert (version["versionName"], version["tags"]) == ("v2", [])
    assert await gql.error_code(UPDATE, {"id": two["id"], "input": {"versionName": "v1"}}) == (
        "CONFLICT"
    )
    # Its own label again is no conflict; left-out fields keep their value.
    same = {"id": one["id"], "input": {"versionName": "v1", "description": "d"}}
    version = (await gql.data(UPDATE, same))["updateComponentVersion"]
    assert (version["versionName"], version["description"], version["tags"]) == ("v1", "d", ["a"])
    cleared = {"id": one["id"], "input": {"versionName": None, "tags": ["c", "c"]}}
    version = (await gql.data(UPDATE, cleared))["updateComponentVersion"]
    assert (version["versionName"], version["description"], version["tags"]) == (None, "d", ["c"])
    # A freed label can be taken.
    taken = {"id": two["id"], "input": {"versionName": "v1"}}
    assert (await gql.data(UPDATE, taken))["updateComponentVersion"]["versionName"] == "v1"


@pytest.mark.parametrize(
    "input",
    [
        {"tags": None},
        {"tags": [""]},
        {"versionName": ""},
        {"versionName": "y" * 65},
        {"description": ""},
    ],
)
async def test_bad_updates_are_refused(gql: GraphQLClient, input: dict[str, Any]) -> None:
    version = await register(gql, "p", "one", versionName="v1")
    assert await gql.error_code(UPDATE, {"id": version["id"], "input": input}) == "BAD_USER_INPUT"
    assert (await component(gql, "p", "v1"))["version"] == {"versionNumber": 1}


async def test_unknown_or_mistyped_ids_are_refused(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    assert await gql.error_code(DEPRECATE, {"id": conv["id"]}) == "BAD_USER_INPUT"
    unknown = to_global_id("ComponentVersion", uuid.uuid4())
    assert await gql.error_code(UNDEPRECATE, {"id": unknown}) == "NOT_FOUND"
    assert await gql.error_code(UPDATE, {"id": unknown, "input": {}}) == "NOT_FOUND"


async def test_deprecated_versions_are_passed_over_by_latest(gql: GraphQLClient) -> None:
    await register(gql, "p", "one", versionName="v1")
    two = await register(gql, "p", "two", versionName="v2")
    found = await component(gql, "p", "v2")
    assert found["latestVersion"] == {"versionNumber": 2}
    deprecated = await gql.data(DEPRECATE, {"id": two["id"], "reason": "leaks the prompt"})
    version = deprecated["deprecateComponentVersion"]
    assert (version["deprecated"], version["deprecationReason"]) == (True, "leaks the prompt")
    since = version["deprecatedAt"]
    assert since is not None
    found = await component(gql, "p", "v2", all=False)
    assert found["latestVersion"] == {"versionNumber": 1}
    assert found["latestOrDeprecated"] == {"versionNumber": 2}
    assert found["version"] == {"versionNumber": 2}  # still found by its label
    assert found["versions"] == [{"versionNumber": 1}]
    assert len((await component(gql, "p"))["versions"]) == 2  # all, by default
    # Again: the time stays, a new reason replaces the old one; none keeps it.
    again = (await gql.data(DEPRECATE, {"id": two["id"], "reason": "r2"}))[
        "deprecateComponentVersion"
    ]
    assert (again["deprecatedAt"], again["deprecationReason"]) == (since, "r2")
    again = (await gql.data(DEPRECATE, {"id": two["id"]}))["deprecateComponentVersion"]
    assert again["deprecationReason"] == "r2"
    # Registering its content again does not bring it back.
    assert (await register(gql, "p", "two"))["deprecated"] is True
    back = (await gql.data(UNDEPRECATE, {"id": two["id"]}))["undeprecateComponentVersion"]
    assert (back["deprecated"], back["deprecatedAt"], back["deprecationReason"]) == (
        False,
        None,
        None,
    )
    assert (await component(gql, "p"))["latestVersion"] == {"versionNumber": 2}


async def test_latest_is_null_when_every_version_is_deprecated(gql: GraphQLClient) -> None:
    version = await register(gql, "p", "one")
    await gql.data(DEPRECATE, {"id": version["id"], "reason": None})
    found = await component(gql, "p")
    assert found["latestVersion"] is None
    assert found["latestOrDeprecated"] == {"versionNumber": 1}
    assert await gql.error_code(DEPRECATE, {"id": version["id"], "reason": " "}) == (
        "BAD_USER_INPUT"
    )


async def test_root_lookup_by_label(gql: GraphQLClient) -> None:
    await register(gql, "p", "one", versionName="v1")
    two = await register(gql, "p", "two", versionName="2026-12-rollout")
    await register(gql, "q", "two", versionName="v1")
    found = await gql.data(BY_NAME, {"key": "p", "name": " 2026-12-rollout"})
    assert found["componentVersion"] == {
        "id": two["id"],
        "versionNumber": 2,
        "versionName": "2026-12-rollout",
    }
    by_id = await gql.data('{ component(key: "p") { id } }')
    found = await gql.data(BY_NAME, {"id": by_id["component"]["id"], "name": "v1"})
    assert found["componentVersion"]["versionNumber"] == 1
    assert (await gql.data(BY_NAME, {"key": "p", "name": "v9"}))["componentVersion"] is None
    assert (await component(gql, "p", "v9"))["version"] is None
    both = {"key": "p", "name": "v1", "hash": "ab"}
    assert await gql.error_code(BY_NAME, both) == "BAD_USER_INPUT"
    assert await gql.error_code(BY_NAME, {"key": "p"}) == "BAD_USER_INPUT"


async def test_latest_versions_of_a_list_cost_the_same_statements_for_any_length(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    query = "{ components { nodes { key latestVersion { versionName } } } }"

    async def count() -> int:
        sql.reset()
        data = await gql.data(query)
        assert all(n["latestVersion"]["versionName"] for n in data["components"]["nodes"])
        return sql.count

    for index in range(2):
        await register(gql, f"c{index}", "one", versionName="v1")
        await register(gql, f"c{index}", "two", versionName="v2")
    small = await count()
    for index in range(2, 20):
        await register(gql, f"c{index}", "one", versionName="v1")
    assert await count() == small
    latest = (await gql.data(query))["components"]["nodes"]
    assert [n["latestVersion"]["versionName"] for n in latest[:3]] == ["v2", "v2", "v1"]


# Attackers: the secured app, where alice owns components and bob does not.


@pytest.fixture
def alice(secured_http: httpx.AsyncClient) -> GraphQLClient:
    return as_user(secured_http, "alice")


@pytest.fixture
def bob(secured_http: httpx.AsyncClient) -> GraphQLClient:
    return as_user(secured_http, "bob")


async def test_a_private_components_labels_are_its_owners_alone(
    alice: GraphQLClient, bob: GraphQLClient
) -> None:
    version = await register(alice, "secret", "s", versionName="v1", private=True)
    assert (await alice.data(BY_NAME, {"key": "secret", "name": "v1"}))["componentVersion"]
    assert (await bob.data(BY_NAME, {"key": "secret", "name": "v1"}))["componentVersion"] is None
    by_id = await alice.data('{ component(key: "secret") { id } }')
    hidden = {"id": by_id["component"]["id"], "name": "v1"}
    assert (await bob.data(BY_NAME, hidden))["componentVersion"] is None
    for document, variables in (
        (UPDATE, {"id": version["id"], "input": {"versionName": "mine"}}),
        (DEPRECATE, {"id": version["id"]}),
        (UNDEPRECATE, {"id": version["id"]}),
    ):
        assert await bob.error_code(document, variables) == "NOT_FOUND"
    assert await register_error(bob, "secret", "s", versionName="v2") == "NOT_FOUND"
    # Nothing changed.
    found = await alice.data(BY_NAME, {"key": "secret", "name": "v1"})
    assert found["componentVersion"]["id"] == version["id"]


async def test_only_the_owner_labels_or_deprecates_a_shared_component(
    alice: GraphQLClient, bob: GraphQLClient
) -> None:
    version = await register(alice, "shared", "s", description="hers")
    for document, variables in (
        (UPDATE, {"id": version["id"], "input": {"versionName": "bobs"}}),
        (DEPRECATE, {"id": version["id"], "reason": "spite"}),
        (UNDEPRECATE, {"id": version["id"]}),
    ):
        assert await bob.error_code(document, variables) == "FORBIDDEN"
    # Registering her content again is a lookup bob may make, but not a way to label it.
    assert await register_error(bob, "shared", "s", versionName="bobs") == "FORBIDDEN"
    assert await register_error(bob, "shared", "s", tags=["bobs"]) == "FORBIDDEN"
    assert await register_error(bob, "shared", "s", description="his") == "CONFLICT"
    same = await register(bob, "shared", "s", description="hers")
    assert (same["id"], same["versionName"], same["tags"]) == (version["id"], None, [])
    # bob reads her labels and latest version as anybody does.
    await alice.data(DEPRECATE, {"id": version["id"], "reason": "old"})
    found = await component(bob, "shared")
    assert found["latestVersion"] is None
    assert found["latestOrDeprecated"] == {"versionNumber": 1}


async def test_an_agent_key_registers_as_its_agent(
    secured_http: httpx.AsyncClient, alice: GraphQLClient
) -> None:
    await register_agent(alice, "alice-bot")
    secret, _ = await new_key(alice, ["READ", "WRITE"], agent_id="alice-bot")
    version = await register(as_key(secured_http, secret), "bots", "b", versionName="v1")
    assert (version["createdById"], version["createdByType"]) == ("alice-bot", "AGENT")
    # The key acts for alice, the component's owner: it may change the version.
    mine = await register(alice, "bots", "b", description="by the bot")
    assert (mine["id"], mine["createdById"]) == (version["id"], "alice-bot")
    read_only, _ = await new_key(alice, ["READ"])
    code = await as_key(secured_http, read_only).error_code(DEPRECATE, {"id": version["id"]})
    assert code == "FORBIDDEN"
