"""Who may see and change what, through the secured endpoint.

The world: alice owns a conversation in which the agent `agent-a` (dave's key speaks
as it) participates and erin observes. carol is a stranger with her own conversation.
Things other people may not see are simply not there: null from root fields and
`node`, absent from connections and their totals, NOT_FOUND from mutations.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_key, as_user, bearer, new_key, register_agent, token

REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { id active revokedAt } }"
SEND = """
mutation($c: ID!, $s: String! = "agent-a", $t: ParticipantType! = AGENT) {
  sendMessage(input: {conversationId: $c, senderId: $s, senderType: $t, role: ASSISTANT,
    content: "hi", toolCalls: [{callId: "c1", toolName: "search"}]}) { id }
}"""
NODE = "query($id: ID!) { node(id: $id) { id } }"
CONVERSATION = "query($id: ID!) { conversation(id: $id) { id title } }"
LISTS = """
{
  conversations { totalCount edges { node { id } } }
  traces { totalCount edges { node { id } } }
}"""
VERSION_SPANS = (
    "query($id: ID!) { node(id: $id) { ... on ComponentVersion { spans { totalCount } } } }"
)


@dataclass
class World:
    http: httpx.AsyncClient
    alice: GraphQLClient
    carol: GraphQLClient
    agent: GraphQLClient  # dave's key, speaking as agent-a, a participant of alice's conversation
    observer: GraphQLClient  # erin, an OBSERVER of alice's conversation
    ids: dict[str, str]
    carol_conversation: str


@pytest.fixture
async def world(secured_http: httpx.AsyncClient) -> World:
    http = secured_http
    alice, carol, dave = (as_user(http, name) for name in ("alice", "carol", "dave"))
    await register_agent(dave, "agent-a")
    conversation = await factories.conversation(
        alice,
        fields="id",
        owner={"participantId": "alice"},
        participants=[
            {"participantId": "agent-a", "participantType": "AGENT"},
            {"participantId": "erin", "role": "OBSERVER"},
        ],
    )
    c = conversation["id"]
    message = await factories.message(
        alice,
        c,
        fields="id toolCalls { id }",
        senderId="alice",
        toolCalls=[{"callId": "x", "toolName": "t"}],
    )
    plan = await factories.plan(alice, c, [[], [0]], fields="id steps { id }")
    version = await factories.component_version(alice, "prompt", {"text": "hi"})
    trace = await factories.trace(alice, c)
    span = await factories.span(alice, trace["id"], componentVersionIds=[version["id"]])
    secret, _ = await new_key(dave, ["READ", "WRITE"], agent_id="agent-a")
    carol_conversation = await factories.conversation(carol, owner={"participantId": "carol"})
    return World(
        http=http,
        alice=alice,
        carol=carol,
        agent=as_key(http, secret),
        observer=as_user(http, "erin"),
        ids={
            "Conversation": c,
            "Message": message["id"],
            "ToolCall": message["toolCalls"][0]["id"],
            "Plan": plan["id"],
            "PlanStep": plan["steps"][0]["id"],
            "Trace": trace["id"],
            "Span": span["id"],
            "ComponentVersion": version["id"],
        },
        carol_conversation=carol_conversation["id"],
    )


MISSING_CONVERSATION = to_global_id("Conversation", uuid.uuid4())
SCOPED = ["Conversation", "Message", "ToolCall", "Plan", "PlanStep", "Trace", "Span"]


@pytest.mark.parametrize("kind", SCOPED)
async def test_node_is_null_for_a_stranger_and_found_for_owner_and_participants(
    world: World, kind: str
) -> None:
    variables = {"id": world.ids[kind]}
    for reader in (world.alice, world.agent, world.observer):
        assert (await reader.data(NODE, variables))["node"] == {"id": world.ids[kind]}
    assert (await world.carol.data(NODE, variables))["node"] is None


async def test_a_strangers_node_looks_exactly_like_a_missing_one(world: World) -> None:
    hidden = await world.carol.execute(CONVERSATION, {"id": world.ids["Conversation"]})
    missing = await world.carol.execute(CONVERSATION, {"id": MISSING_CONVERSATION})
    assert hidden == missing == {"data": {"conversation": None}}


async def test_connections_and_totals_hold_only_visible_rows(world: World) -> None:
    alice = await world.alice.data(LISTS)
    assert alice["conversations"]["totalCount"] == 1
    assert alice["conversations"]["edges"] == [{"node": {"id": world.ids["Conversation"]}}]
    assert alice["traces"]["totalCount"] == 1
    agent = await world.agent.data(LISTS)
    assert agent["conversations"]["totalCount"] == 1
    assert agent["traces"]["totalCount"] == 1
    carol = await world.carol.data(LISTS)
    assert carol["conversations"]["edges"] == [{"node": {"id": world.carol_conversation}}]
    assert carol["traces"] == {"totalCount": 0, "edges": []}


async def test_shared_component_versions_show_only_the_spans_one_may_see(world: World) -> None:
    variables = {"id": world.ids["ComponentVersion"]}
    assert (await world.alice.data(VERSION_SPANS, variables))["node"]["spans"]["totalCount"] == 1
    assert (await world.carol.data(VERSION_SPANS, variables))["node"]["spans"]["totalCount"] == 0


async def test_owner_and_participant_agent_write_a_stranger_gets_not_found(world: World) -> None:
    variables = {"c": world.ids["Conversation"]}
    as_alice = {**variables, "s": "alice", "t": "USER"}
    assert (await world.alice.data(SEND, as_alice))["sendMessage"]["id"]
    assert (await world.agent.data(SEND, variables))["sendMessage"]["id"]
    error = await world.carol.error(SEND, variables)
    assert error["extensions"]["code"] == "NOT_FOUND"
    missing = await world.carol.error(SEND, {"c": MISSING_CONVERSATION})
    assert missing["message"].split("'")[0] == error["message"].split("'")[0]


async def test_an_observer_reads_but_may_not_write(world: World) -> None:
    code = await world.observer.error_code(SEND, {"c": world.ids["Conversation"]})
    assert code == "FORBIDDEN"


CHUNK = 'mutation($id: ID!) { appendAnswerChunk(input: {messageId: $id, text: " more"}) { id } }'
STREAMING = """mutation($c: ID!) { sendMessage(input: {conversationId: $c, senderId: "agent-a",
  senderType: AGENT, role: ASSISTANT, status: STREAMING, content: "Hello"}) { id } }"""
CONTENT = "query($id: ID!) { node(id: $id) { ... on Message { content } } }"


async def test_who_asks_is_checked_before_the_message_a_chunk_goes_to(world: World) -> None:
    # The message is COMPLETE: a writer of its conversation hears CONFLICT; a stranger
    # does not learn it exists, an observer may not write.
    variables = {"id": world.ids["Message"]}
    assert await world.carol.error_code(CHUNK, variables) == "NOT_FOUND"
    assert await world.observer.error_code(CHUNK, variables) == "FORBIDDEN"
    assert await world.agent.error_code(CHUNK, variables) == "CONFLICT"
    streaming = (await world.agent.data(STREAMING, {"c": world.ids["Conversation"]}))["sendMessage"]
    assert await world.carol.error_code(CHUNK, {"id": streaming["id"]}) == "NOT_FOUND"
    await world.agent.data(CHUNK, {"id": streaming["id"]})
    read = await world.alice.data(CONTENT, {"id": streaming["id"]})
    assert read["node"]["content"] == "Hello more"


TOOL_END = "mutation($id: ID!) { reportToolEnd(input: {toolCallId: $id}) { status } }"


async def test_who_asks_is_checked_before_the_tool_call_that_ends(world: World) -> None:
    variables = {"id": world.ids["ToolCall"]}
    assert await world.carol.error_code(TOOL_END, variables) == "NOT_FOUND"
    assert await world.observer.error_code(TOOL_END, variables) == "FORBIDDEN"
    # The call is part of alice's message: the agent may not end it in her name.
    assert await world.agent.error_code(TOOL_END, variables) == "FORBIDDEN"
    ended = await world.alice.data(TOOL_END, variables)
    assert ended["reportToolEnd"]["status"] == "COMPLETED"
    assert await world.alice.error_code(TOOL_END, variables) == "CONFLICT"
    assert await world.carol.error_code(TOOL_END, variables) == "NOT_FOUND"


MUTATIONS_ON_ROWS = {
    "Message": 'editMessage(input: {messageId: $id, content: "x"}) { id }',
    "PlanStep": "updateStepStatus(input: {stepId: $id, status: RUNNING}) { id }",
    "Span": "endSpan(input: {spanId: $id}) { id }",
    "Trace": "endTrace(input: {traceId: $id}) { id }",
    "Conversation": 'updateConversation(id: $id, input: {title: "x"}) { id }',
}


@pytest.mark.parametrize("kind", sorted(MUTATIONS_ON_ROWS))
async def test_mutations_on_a_strangers_rows_are_not_found_and_change_nothing(
    world: World, kind: str
) -> None:
    variables = {"id": world.ids[kind]}
    document = f"mutation($id: ID!) {{ {MUTATIONS_ON_ROWS[kind]} }}"
    assert await world.carol.error_code(document, variables) == "NOT_FOUND"
    title = await world.alice.data(CONVERSATION, {"id": world.ids["Conversation"]})
    assert title["conversation"]["title"] == factories.TITLE
    # The owner can do it: the refusal was about who asked, not about the input.
    assert (await world.alice.data(document, variables)) is not None


async def test_nobody_creates_a_conversation_for_someone_else(world: World) -> None:
    document = factories.mutation_document("createConversation", "id")
    payload = {"input": {"owner": {"participantId": "alice"}}}
    assert await world.carol.error_code(document, payload) == "FORBIDDEN"


async def test_a_read_only_key_may_not_write(world: World) -> None:
    secret, _ = await new_key(as_user(world.http, "dave"), ["READ"], agent_id="agent-a")
    reader = as_key(world.http, secret)
    assert (await reader.data(NODE, {"id": world.ids["Message"]}))["node"] is not None
    assert await reader.error_code(SEND, {"c": world.ids["Conversation"]}) == "FORBIDDEN"


async def unauthenticated(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": "{ viewer { userId } }"}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    return dict(error)


async def test_anonymous_expired_forged_and_revoked_credentials_get_401(world: World) -> None:
    http = world.http
    assert "authentication required" in (await unauthenticated(http, {}))["message"]
    expired = await unauthenticated(http, bearer(token("alice", expires_in=-60)))
    assert expired["message"] == "the token has expired"
    forged = await unauthenticated(http, bearer(token("alice", key="x" * 48)))
    assert forged["message"].startswith("invalid token")
    await unauthenticated(http, bearer("tl_not-a-key"))
    await unauthenticated(http, {"Authorization": "Basic YWxpY2U6cHc="})
    dave = as_user(http, "dave")
    secret, key_id = await new_key(dave, ["READ"])
    assert (await as_key(http, secret).data("{ viewer { userId } }")) == {
        "viewer": {"userId": "dave"}
    }
    await dave.data(REVOKE, {"id": key_id})
    revoked = await unauthenticated(http, {"X-API-Key": secret})
    assert revoked["message"] == "this API key has been revoked"


async def test_the_graphiql_page_needs_no_credential(world: World) -> None:
    response = await world.http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_chat_settings_are_their_users_alone(world: World) -> None:
    read = "query($u: String) { chatSettings(userId: $u) { userId } }"
    assert (await world.alice.data(read, {"u": None}))["chatSettings"]["userId"] == "alice"
    assert await world.alice.error_code(read, {"u": "carol"}) == "FORBIDDEN"
    write = 'mutation($u: String) { upsertChatSettings(userId: $u, input: {model: "m"}) { model } }'
    assert await world.carol.error_code(write, {"u": "alice"}) == "FORBIDDEN"
    assert (await world.carol.data(write, {"u": None}))["upsertChatSettings"]["model"] == "m"


SURFACES = {
    "query": ("query($id: ID!) { conversation(id: $id) { id } }", "Conversation"),
    "node": ("query($id: ID!) { node(id: $id) { id } }", "Span"),
    "connection": ("{ conversations { totalCount } }", None),
    "mutation": ('mutation($id: ID!) { updateConversation(id: $id, input: {title: "x"}) { id } }',
                 "Conversation"),
}  # fmt: skip


@pytest.mark.parametrize("surface", sorted(SURFACES))
@pytest.mark.parametrize("caller", ["anonymous", "expired token", "revoked key"])
async def test_no_surface_answers_without_a_valid_credential(
    world: World, surface: str, caller: str
) -> None:
    if caller == "revoked key":
        dave = as_user(world.http, "dave")
        secret, key_id = await new_key(dave, ["READ", "WRITE"], agent_id="agent-a")
        await dave.data(REVOKE, {"id": key_id})
        headers = {"X-API-Key": secret}
    else:
        headers = bearer(token("alice", expires_in=-60)) if caller == "expired token" else {}
    document, kind = SURFACES[surface]
    variables = {"id": world.ids[kind]} if kind else {}
    response = await world.http.post(
        "/graphql", json={"query": document, "variables": variables}, headers=headers
    )
    assert response.status_code == 401
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Nothing was written either.
    title = await world.alice.data(CONVERSATION, {"id": world.ids["Conversation"]})
    assert title["conversation"]["title"] == factories.TITLE
