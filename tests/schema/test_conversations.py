"""Conversations and participants through /graphql."""

from __future__ import annotations

import uuid

import pytest

from tests import factories
from tests.graphql_client import GraphQLClient

FIELDS = """id kind status title tags metadata ownerId
            participants { participantId participantType role active }"""


async def test_create_conversation_adds_owner_and_counterpart(gql: GraphQLClient) -> None:
    conv = await factories.conversation(
        gql, FIELDS, title="Trip", tags=["travel", "travel", "eu"], metadata={"source": "web"}
    )
    assert conv["kind"] == "USER_AGENT"
    assert conv["status"] == "ACTIVE"
    assert conv["tags"] == ["travel", "eu"]
    assert conv["metadata"] == {"source": "web"}
    assert [(p["participantId"], p["role"]) for p in conv["participants"]] == [
        ("user-1", "OWNER"),
        ("agent-1", "MEMBER"),
    ]


async def test_three_participants_make_a_multi_party_conversation(gql: GraphQLClient) -> None:
    others = [{"participantId": "agent-1", "participantType": "AGENT"}, {"participantId": "user-2"}]
    conv = await factories.conversation(gql, "kind", participants=others)
    assert conv["kind"] == "MULTI_PARTY"


async def test_adding_a_third_participant_makes_it_multi_party(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    added = await gql.data(
        """mutation($c: ID!) { addParticipant(conversationId: $c,
             participant: {participantId: "observer", role: OBSERVER}) {
             participantId role active conversation { kind participants { participantId } } } }""",
        {"c": conv["id"]},
    )
    participant = added["addParticipant"]
    assert participant["role"] == "OBSERVER"
    assert participant["conversation"]["kind"] == "MULTI_PARTY"
    assert len(participant["conversation"]["participants"]) == 3


async def test_participant_leaves_and_rejoins(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    remove = """mutation($c: ID!) {
        removeParticipant(conversationId: $c, participantId: "agent-1") { active leftAt } }"""
    left = (await gql.data(remove, {"c": conv["id"]}))["removeParticipant"]
    assert left["active"] is False
    assert left["leftAt"] is not None
    assert await gql.error_code(remove, {"c": conv["id"]}) == "CONFLICT"
    rejoin = """mutation($c: ID!) { addParticipant(conversationId: $c,
                  participant: {participantId: "agent-1", participantType: AGENT}) {
                  active leftAt } }"""
    assert (await gql.data(rejoin, {"c": conv["id"]}))["addParticipant"] == {
        "active": True,
        "leftAt": None,
    }
    active = await gql.data(
        """query($c: ID!) { conversation(id: $c) {
             participants(activeOnly: true) { participantId } } }""",
        {"c": conv["id"]},
    )
    assert len(active["conversation"]["participants"]) == 2


@pytest.mark.parametrize(
    ("mutation", "code"),
    [
        ('addParticipant(conversationId: $c, participant: {participantId: "agent-1"})', "CONFLICT"),
        (
            'addParticipant(conversationId: $c, participant: {participantId: "x", role: OWNER})',
            "BAD_USER_INPUT",
        ),
        (
            'addParticipant(conversationId: $c, participant: {participantId: "  "})',
            "BAD_USER_INPUT",
        ),
        ('removeParticipant(conversationId: $c, participantId: "user-1")', "BAD_USER_INPUT"),
        ('removeParticipant(conversationId: $c, participantId: "nobody")', "NOT_FOUND"),
    ],
)
async def test_participant_changes_rejected(gql: GraphQLClient, mutation: str, code: str) -> None:
    conv = await factories.conversation(gql)
    assert (
        await gql.error_code(f"mutation($c: ID!) {{ {mutation} {{ id }} }}", {"c": conv["id"]})
        == code
    )
    after = await gql.data(
        """query($c: ID!) { conversation(id: $c) {
             kind participants { participantId role active } } }""",
        {"c": conv["id"]},
    )
    assert after["conversation"]["kind"] == "USER_AGENT"
    assert [p["active"] for p in after["conversation"]["participants"]] == [True, True]


async def test_update_conversation_changes_only_given_fields(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql, title="Old", summary="keep me", temperature=0.5)
    updated = await gql.data(
        """mutation($c: ID!) { updateConversation(id: $c, input: {title: "New", temperature: null,
             tags: ["x"], metadata: {k: 1}, maxTokens: 1000}) {
             title summary temperature tags metadata maxTokens } }""",
        {"c": conv["id"]},
    )
    assert updated["updateConversation"] == {
        "title": "New",
        "summary": "keep me",
        "temperature": None,
        "tags": ["x"],
        "metadata": {"k": 1},
        "maxTokens": 1000,
    }


@pytest.mark.parametrize(
    "input",
    [
        "{temperature: 2.5}",
        "{temperature: -0.1}",
        "{maxTokens: 0}",
        "{metadata: [1]}",
        "{tags: null}",
    ],
)
async def test_update_conversation_rejects_bad_values(gql: GraphQLClient, input: str) -> None:
    conv = await factories.conversation(gql, title="Same")
    query = f"mutation($c: ID!) {{ updateConversation(id: $c, input: {input}) {{ id }} }}"
    assert await gql.error_code(query, {"c": conv["id"]}) == "BAD_USER_INPUT"
    title = await gql.data(
        "query($c: ID!) { conversation(id: $c) { title temperature } }", {"c": conv["id"]}
    )
    assert title["conversation"] == {"title": "Same", "temperature": None}


async def test_status_transitions(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    run = "mutation($c: ID!) {{ {}(id: $c) {{ status }} }}"
    c = {"c": conv["id"]}
    assert (await gql.data(run.format("archiveConversation"), c))["archiveConversation"][
        "status"
    ] == "ARCHIVED"
    assert await gql.error_code(run.format("archiveConversation"), c) == "CONFLICT"
    assert (await gql.data(run.format("restoreConversation"), c))["restoreConversation"][
        "status"
    ] == "ACTIVE"
    assert (await gql.data(run.format("closeConversation"), c))["closeConversation"][
        "status"
    ] == "CLOSED"
    for verb in ("archiveConversation", "restoreConversation", "closeConversation"):
        assert await gql.error_code(run.format(verb), c) == "CONFLICT"
    update = 'mutation($c: ID!) { updateConversation(id: $c, input: {title: "x"}) { id } }'
    assert await gql.error_code(update, c) == "CONFLICT"


async def test_create_rejects_bad_input(gql: GraphQLClient) -> None:
    cases = [
        {"owner": {"participantId": ""}},
        {"owner": {"participantId": "u"}, "participants": [{"participantId": "u"}]},
        {
            "owner": {"participantId": "u"},
            "participants": [{"participantId": "v", "role": "OWNER"}],
        },
        {"owner": {"participantId": "u"}, "temperature": 3},
        {"owner": {"participantId": "u"}, "maxTokens": -5},
        {"owner": {"participantId": "u"}, "metadata": "text"},
        {"owner": {"participantId": "u"}, "id": "not-an-id"},
    ]
    doc = factories.mutation_document("createConversation", "id")
    for input in cases:
        assert await gql.error_code(doc, {"input": input}) == "BAD_USER_INPUT", input
    total = await gql.data("{ conversations { totalCount } }")
    assert total["conversations"]["totalCount"] == 0


async def test_client_id_makes_create_retry_safe(gql: GraphQLClient) -> None:
    client_id = str(uuid.uuid4())
    first = await factories.conversation(gql, "id title", id=client_id, title="A")
    again = await factories.conversation(gql, "id title", id=client_id, title="A")
    assert first == again
    total = await gql.data("{ conversations { totalCount } }")
    assert total["conversations"]["totalCount"] == 1
    doc = factories.mutation_document("createConversation", "id")
    stolen = {"id": client_id, "owner": {"participantId": "someone-else"}}
    assert await gql.error_code(doc, {"input": stolen}) == "CONFLICT"


async def test_unknown_conversation_is_null_and_mutations_say_not_found(gql: GraphQLClient) -> None:
    from resolvers.ids import to_global_id

    missing = to_global_id("Conversation", uuid.uuid4())
    assert (await gql.data("query($c: ID!) { conversation(id: $c) { id } }", {"c": missing})) == {
        "conversation": None
    }
    query = "mutation($c: ID!) { archiveConversation(id: $c) { id } }"
    assert await gql.error_code(query, {"c": missing}) == "NOT_FOUND"
