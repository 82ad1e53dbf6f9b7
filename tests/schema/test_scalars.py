"""DateTime input: offsets kept, a missing offset read as UTC, garbage refused."""

from __future__ import annotations

from tests import factories
from tests.graphql_client import GraphQLClient


async def test_datetime_without_offset_is_utc(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    trace = await factories.trace(gql, conv["id"], "startedAt", startedAt="2024-05-01T10:00:00")
    assert trace["startedAt"] == "2024-05-01T10:00:00+00:00"
    ended = await gql.data(
        """mutation($t: ID!) { endTrace(input: {traceId: $t,
             endedAt: "2024-05-01T12:00:01.5+02:00"}) { endedAt durationMs } }""",
        {"t": (await factories.trace(gql, conv["id"], startedAt="2024-05-01T10:00:00"))["id"]},
    )
    assert ended["endTrace"] == {
        "endedAt": "2024-05-01T10:00:01.500000+00:00",
        "durationMs": 1500.0,
    }


async def test_mixed_offsets_compare_correctly(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    call = {
        "callId": "c1",
        "toolName": "t",
        "startedAt": "2024-05-01T10:00:00+00:00",
        "endedAt": "2024-05-01T09:59:00",
    }
    doc = factories.mutation_document("sendMessage", "id")
    payload = {"conversationId": conv["id"], "senderId": "u", "toolCalls": [call]}
    assert await gql.error_code(doc, {"input": payload}) == "BAD_USER_INPUT"


async def test_unparseable_datetime_is_bad_user_input(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    doc = factories.mutation_document("startTrace", "id")
    payload = {"conversationId": conv["id"], "startedAt": "yesterday"}
    assert await gql.error_code(doc, {"input": payload}) == "BAD_USER_INPUT"


async def test_inline_datetimes_are_parsed_and_checked(gql: GraphQLClient) -> None:
    await factories.conversation(gql)
    query = "{ conversations(filter: {createdAfter: %s}) { totalCount } }"
    found = await gql.data(query % '"2000-01-01T00:00:00"')
    assert found["conversations"]["totalCount"] == 1
    for literal in ('"nope"', "5", '"2024-02-30T00:00:00"'):
        error = await gql.error(query % literal)
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
        assert literal in error["message"]
