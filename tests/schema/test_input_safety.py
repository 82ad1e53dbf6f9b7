"""Input a client can forge or mistype is refused as BAD_USER_INPUT, never a server fault.

Cursors are opaque only by convention: a client can send any base64 JSON. Values
PostgreSQL cannot store (NUL, lone surrogates, non-finite numbers) are refused the
same way on both databases, before anything is written.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from tests import factories
from tests.graphql_client import GraphQLClient

# Above every random UUID: a cursor with this id is past every row with its sort value.
LAST_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"


def cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


CONVERSATIONS = """query($after: String) {
  conversations(orderBy: {field: CREATED_AT, direction: ASC}, after: $after) { nodes { title } }
}"""
ALL_MESSAGES = """query($c: ID!, $after: String) {
  conversation(id: $c) { messages(allBranches: true, after: $after) { nodes { content } } }
}"""
COMPONENTS = "query($after: String) { components(after: $after) { nodes { key } } }"

MALFORMED = [
    "bm90IGEgY3Vyc29y",  # base64, but not JSON
    cursor("2020-01-01T00:00:00+00:00"),  # no id
    cursor("2020-01-01T00:00:00+00:00", LAST_ID, 3),  # too much
    cursor("2020-01-01T00:00:00+00:00", 5),  # id not a string
    cursor("2020-01-01T00:00:00+00:00", "not-a-uuid"),
    base64.urlsafe_b64encode(b'{"a": 1, "b": 2}').decode(),  # an object, not a pair
    base64.urlsafe_b64encode(b"[" * 100_000).decode(),  # nested past the recursion limit
]


@pytest.mark.parametrize(
    "value",
    [None, 1e30, 17, True, "abc", "2020-13-01", ["2020-01-01"], {"at": "2020-01-01"}],
)
async def test_forged_datetime_cursors_are_refused(gql: GraphQLClient, value: Any) -> None:
    await factories.conversation(gql, title="c0")
    error = await gql.error(CONVERSATIONS, {"after": cursor(value, LAST_ID)})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].endswith("is not a valid cursor for this list")


@pytest.mark.parametrize("after", MALFORMED)
async def test_malformed_cursors_are_refused(gql: GraphQLClient, after: str) -> None:
    await factories.conversation(gql, title="c0")
    assert await gql.error_code(CONVERSATIONS, {"after": after}) == "BAD_USER_INPUT"


async def test_a_datetime_cursor_without_offset_is_utc(gql: GraphQLClient) -> None:
    await factories.conversation(gql, title="c0")

    async def titles(after: str) -> list[str]:
        found = await gql.data(CONVERSATIONS, {"after": after})
        return [node["title"] for node in found["conversations"]["nodes"]]

    assert await titles(cursor("2000-01-01T00:00:00", LAST_ID)) == ["c0"]
    assert await titles(cursor("2000-01-01", LAST_ID)) == ["c0"]
    assert await titles(cursor("2999-01-01T00:00:00", LAST_ID)) == []
    # The same instant as naive UTC and with an offset: the same page.
    assert await titles(cursor("2999-01-01T02:00:00+02:00", LAST_ID)) == []


@pytest.mark.parametrize(
    "value", [None, 1e30, 1.0, True, "abc", "1", 2**31, -(2**31) - 1, 2**63, [1], {"seq": 1}]
)
async def test_forged_integer_cursors_are_refused(gql: GraphQLClient, value: Any) -> None:
    conv = await factories.conversation(gql)
    await factories.message(gql, conv["id"])
    variables = {"c": conv["id"], "after": cursor(value, LAST_ID)}
    assert await gql.error_code(ALL_MESSAGES, variables) == "BAD_USER_INPUT"


async def test_an_integer_cursor_pages_by_value(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    for n in range(3):
        await factories.message(gql, conv["id"], content=f"m{n}")

    async def contents(after: str) -> list[str]:
        found = await gql.data(ALL_MESSAGES, {"c": conv["id"], "after": after})
        return [node["content"] for node in found["conversation"]["messages"]["nodes"]]

    assert await contents(cursor(1, LAST_ID)) == ["m1", "m2"]
    # The bounds of the column (32 bits, as PostgreSQL's INTEGER) are still cursors.
    assert await contents(cursor(2**31 - 1, LAST_ID)) == []
    assert await contents(cursor(-(2**31), LAST_ID)) == ["m0", "m1", "m2"]


@pytest.mark.parametrize("value", [None, 5, 1e30, True, ["a"]])
async def test_forged_string_cursors_are_refused(gql: GraphQLClient, value: Any) -> None:
    await factories.component_version(gql, "a-key", {"v": 1})
    assert await gql.error_code(COMPONENTS, {"after": cursor(value, LAST_ID)}) == "BAD_USER_INPUT"


async def test_a_string_cursor_pages_by_value(gql: GraphQLClient) -> None:
    for key in ("a", "b", "c"):
        await factories.component_version(gql, key, {"v": 1})
    found = await gql.data(COMPONENTS, {"after": cursor("a", LAST_ID)})
    assert [node["key"] for node in found["components"]["nodes"]] == ["b", "c"]


async def test_nested_lists_refuse_forged_cursors_too(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    await factories.trace(gql, conv["id"])
    query = """query($c: ID!, $after: String) {
      conversation(id: $c) { traces(after: $after) { nodes { id } } } }"""
    for value in (None, 12, "yesterday"):
        variables = {"c": conv["id"], "after": cursor(value, str(uuid.uuid4()))}
        assert await gql.error_code(query, variables) == "BAD_USER_INPUT", value


CREATE = factories.mutation_document("createConversation", "id title metadata tags")
COUNT = "{ conversations { totalCount } }"


async def post_raw(gql: GraphQLClient, query: str, variables: str) -> dict[str, Any]:
    """Variables as raw JSON text: httpx cannot send lone surrogates or NaN itself."""
    body = f'{{"query": {json.dumps(query)}, "variables": {variables}}}'
    response = await gql.http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    # Whatever happened, the response is strict JSON (no NaN or Infinity tokens).
    found: dict[str, Any] = json.loads(response.text, parse_constant=_not_json)
    return found


def _not_json(token: str) -> None:
    raise AssertionError(f"{token} in a response")


def conversation_input(fields: str) -> str:
    return f'{{"input": {{"owner": {{"participantId": "u"}}, {fields}}}}}'


@pytest.mark.parametrize(
    "fields",
    [
        '"title": "a\\u0000b"',
        '"tags": ["ok", "\\u0000"]',
        '"owner": {"participantId": "u\\u0000"}',
        '"metadata": {"note": {"deep": [1, "x\\u0000"]}}',
        '"metadata": {"a\\u0000": 1}',
        '"title": "\\ud800"',
        '"title": "ok \\udfff"',
        '"metadata": {"list": ["\\ud83d"]}',
        '"metadata": {"\\udc00": true}',
        '"metadata": {"x": 1e400}',
        '"metadata": {"x": -1e400}',
        '"metadata": {"x": NaN}',
        '"metadata": {"x": [0, {"y": Infinity}]}',
        '"metadata": {"x": 1' + "0" * 400 + "}",  # an integer no float can hold
        '"temperature": NaN',
        '"temperature": 1e400',
        '"metadata": ' + '{"a": ' * 200 + '"\\u0000"' + "}" * 200,
    ],
)
async def test_unstorable_variables_are_refused_before_writing(
    gql: GraphQLClient, fields: str
) -> None:
    body = await post_raw(gql, CREATE, conversation_input(fields))
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert body["data"] is None
    assert (await gql.data(COUNT))["conversations"]["totalCount"] == 0


@pytest.mark.parametrize(
    "literal",
    [
        'title: "a\\u0000b"',
        'title: "a\\u{0}b"',
        'title: """a\x00b"""',
        "temperature: 1e400",
        "metadata: {x: 1e400}",
        "metadata: {x: [1, {y: -1e999}]}",
        "metadata: {x: 1" + "0" * 400 + "}",
        "metadata: {x: 1" + "0" * 5000 + "}",  # past Python's int-from-text limit too
    ],
)
async def test_unstorable_literals_are_refused_before_writing(
    gql: GraphQLClient, literal: str
) -> None:
    query = f"""mutation {{ createConversation(input: {{
                  owner: {{participantId: "u"}}, {literal} }}) {{ id }} }}"""
    error = await gql.error(query)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["locations"], "points at the literal"
    assert (await gql.data(COUNT))["conversations"]["totalCount"] == 0


async def test_an_integer_literal_too_big_for_a_float_is_refused(gql: GraphQLClient) -> None:
    # graphql-core reads it for a Float as infinity; `cost` has no upper bound to catch it.
    conv = await factories.conversation(gql)
    query = f"""mutation($c: ID!) {{ sendMessage(input: {{conversationId: $c, senderId: "u",
                  cost: 1{"0" * 400} }}) {{ id }} }}"""
    assert await gql.error_code(query, {"c": conv["id"]}) == "BAD_USER_INPUT"
    counted = await gql.data(
        "query($c: ID!) { conversation(id: $c) { messageCount cost } }", {"c": conv["id"]}
    )
    assert counted["conversation"] == {"messageCount": 0, "cost": 0.0}


async def test_reads_refuse_unstorable_text_too(gql: GraphQLClient) -> None:
    # PostgreSQL cannot even compare with a NUL: it would fail, not find nothing.
    query = "query($u: String!) { chatSettings(userId: $u) { userId } }"
    assert await gql.error_code(query, {"u": "a\x00"}) == "BAD_USER_INPUT"
    assert await gql.error_code('{ chatSettings(userId: "a\\u0000") { userId } }') == (
        "BAD_USER_INPUT"
    )
    body = await post_raw(gql, query, '{"u": "\\ud800"}')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_storable_edge_values_round_trip(gql: GraphQLClient) -> None:
    """What is refused is exactly NUL, lone surrogates and non-finite numbers."""
    fields = (
        '"title": "\\ud83d\\ude00 \\u0001 \\uffff", "tags": ["\\u00e9"], '
        '"metadata": {"tiny": -5e-324, "int": 123456789012345678901234567890, '
        '"\\ud83d\\ude00": ["\\u0007"], "big": 1e308}'
    )
    body = await post_raw(gql, CREATE, conversation_input(fields))
    created = body["data"]["createConversation"]
    assert created["title"] == "\U0001f600 \x01 \uffff"
    assert created["tags"] == ["é"]
    # PostgreSQL keeps JSON numbers as numeric: 1e308 comes back as its digits.
    assert float(created["metadata"].pop("big")) == 1e308
    assert created["metadata"] == {
        "tiny": -5e-324,
        "int": 123456789012345678901234567890,
        "\U0001f600": ["\x07"],
    }
    query = "query($id: ID!) { conversation(id: $id) { metadata } }"
    read = await post_raw(gql, query, json.dumps({"id": created["id"]}))
    read_back = read["data"]["conversation"]["metadata"]
    assert float(read_back.pop("big")) == 1e308
    assert read_back == created["metadata"]
