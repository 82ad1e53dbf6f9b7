"""Relay global ids: node(id:) and nodes(ids:) for every type, and bad ids."""

from __future__ import annotations

import base64
import uuid

from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"


async def seed_one_of_each(gql: GraphQLClient) -> dict[str, str]:
    conv = await factories.conversation(gql, "id participants { id }")
    msg = await factories.message(
        gql, conv["id"], "id toolCalls { id }", toolCalls=[{"callId": "c", "toolName": "t"}]
    )
    plan = await factories.plan(gql, conv["id"], [[]], "id steps { id }")
    trace = await factories.trace(gql, conv["id"])
    span = await factories.span(gql, trace["id"])
    version = await factories.component_version(gql, "p", {"a": 1}, fields="id component { id }")
    return {
        "Conversation": conv["id"],
        "Participant": conv["participants"][0]["id"],
        "Message": msg["id"],
        "ToolCall": msg["toolCalls"][0]["id"],
        "Plan": plan["id"],
        "PlanStep": plan["steps"][0]["id"],
        "Trace": trace["id"],
        "Span": span["id"],
        "ComponentVersion": version["id"],
        "Component": version["component"]["id"],
    }


async def test_node_resolves_every_type(gql: GraphQLClient) -> None:
    ids = await seed_one_of_each(gql)
    for type_name, global_id in ids.items():
        node = (await gql.data(NODE, {"id": global_id}))["node"]
        assert node == {"__typename": type_name, "id": global_id}


async def test_nodes_keeps_order_and_nulls_for_missing(gql: GraphQLClient) -> None:
    ids = await seed_one_of_each(gql)
    missing = to_global_id("Message", uuid.uuid4())
    wanted = [ids["Span"], missing, ids["Conversation"], ids["Message"]]
    found = await gql.data(
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }", {"ids": wanted}
    )
    assert [n and n["id"] for n in found["nodes"]] == [
        ids["Span"],
        None,
        ids["Conversation"],
        ids["Message"],
    ]


async def test_node_fragments_read_type_fields(gql: GraphQLClient) -> None:
    ids = await seed_one_of_each(gql)
    query = (
        """query($id: ID!) { node(id: $id) { ... on Message { content conversation { id } } } }"""
    )
    node = (await gql.data(query, {"id": ids["Message"]}))["node"]
    assert node == {"content": "hello", "conversation": {"id": ids["Conversation"]}}


async def test_bad_ids(gql: GraphQLClient) -> None:
    assert (await gql.data(NODE, {"id": to_global_id("Conversation", uuid.uuid4())}))[
        "node"
    ] is None
    assert await gql.error_code(NODE, {"id": "%%% not base64"}) == "BAD_USER_INPUT"
    no_uuid = base64.b64encode(b"Conversation:42").decode()
    assert await gql.error_code(NODE, {"id": no_uuid}) == "BAD_USER_INPUT"
    unknown_type = to_global_id("Planet", uuid.uuid4())
    assert await gql.error_code(NODE, {"id": unknown_type}) == "NOT_FOUND"


async def test_typed_lookup_rejects_an_id_of_another_type(gql: GraphQLClient) -> None:
    ids = await seed_one_of_each(gql)
    error = await gql.error(
        "query($id: ID!) { conversation(id: $id) { id } }", {"id": ids["Message"]}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "expected a Conversation id, got a Message id" in error["message"]


async def test_nodes_takes_at_most_a_page_of_ids(gql: GraphQLClient) -> None:
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    ids = [to_global_id("Message", uuid.uuid4()) for _ in range(501)]
    assert (await gql.data(query, {"ids": ids[:500]}))["nodes"] == [None] * 500
    error = await gql.error(query, {"ids": ids})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "at most 500" in error["message"]
