"""Identities nobody can forge: findings 1, 3, 4, 6 and the id oracle of 11, each a test.

Played through the secured endpoint by bob (alice's MEMBER), his keys, and carol.
"""

from __future__ import annotations

import httpx
import pytest

from resolvers.ids import from_global_id
from tests import factories
from tests.identities import CREATE_KEY, as_key, new_key
from tests.security.world import World, build, code_of

CONVERSATION = "query($c: ID!) { conversation(id: $c) { id } }"
LIST = "{ conversations { totalCount } usage { count } }"
SEND = """
mutation($c: ID!, $s: String!, $t: ParticipantType!) {
  sendMessage(input: {conversationId: $c, senderId: $s, senderType: $t, content: "x"}) { id }
}"""
CREATE = """
mutation($owner: String!, $t: ParticipantType!) {
  createConversation(input: {owner: {participantId: $owner, participantType: $t}}) { id }
}"""
REGISTER = """
mutation($key: String!, $d: JSON!) {
  registerComponentVersion(input: {componentKey: $key, type: PROMPT, definition: $d}) {
    versionNumber component { key }
  }
}"""


@pytest.fixture
async def world(secured_http: httpx.AsyncClient) -> World:
    return await build(secured_http)


async def _key_for(world: World, agent_id: str, user: str = "bob") -> str | None:
    body = await world[user].execute(
        CREATE_KEY, {"input": {"name": "k", "scopes": ["READ", "WRITE"], "agentId": agent_id}}
    )
    if body.get("errors"):
        code: str = body["errors"][0]["extensions"]["code"]
        return code
    secret: str = body["data"]["createApiKey"]["secret"]
    return secret


async def test_finding1_a_key_cannot_speak_as_another_users_agent(world: World) -> None:
    assert await _key_for(world, "alice-bot") == "FORBIDDEN"


@pytest.mark.parametrize("claimed", ["alice", "bob"])
async def test_finding1_a_key_naming_a_user_is_an_agent_not_that_user(
    world: World, claimed: str
) -> None:
    """carol may register an agent called "alice": it is an AGENT, and alice a USER."""
    secret = await _key_for(world, claimed, user="carol")
    assert secret is not None
    assert secret.startswith("tl_")
    impostor = as_key(world.http, secret)
    c = world.conversation
    assert (await impostor.data(CONVERSATION, {"c": c}))["conversation"] is None
    for sender_type in ("USER", "AGENT"):
        variables = {"c": c, "s": claimed, "t": sender_type}
        assert await code_of(impostor, SEND, variables) == "NOT_FOUND"
    totals = await impostor.data(LIST)
    assert totals == {"conversations": {"totalCount": 0}, "usage": [{"count": 0}]}
    assert await code_of(impostor, CREATE, {"owner": claimed, "t": "USER"}) == "FORBIDDEN"
    # As the agent it is, it may own a conversation, which alice or bob do not see.
    assert await code_of(impostor, CREATE, {"owner": claimed, "t": "AGENT"}) is None
    assert (await world[claimed].data(LIST))["conversations"]["totalCount"] == 1


async def test_finding1_an_agent_key_sees_its_agents_conversations(world: World) -> None:
    found = await world.alice_bot.data(CONVERSATION, {"c": world.conversation})
    assert found["conversation"] == {"id": world.conversation}
    assert (await world.bob_bot.data(CONVERSATION, {"c": world.conversation}))["conversation"]


@pytest.mark.parametrize(
    ("sender", "sender_type"),
    [("alice", "USER"), ("alice-bot", "AGENT"), ("ceo", "SYSTEM"), ("bob-bot", "USER")],
)
async def test_finding3_a_member_cannot_speak_as_anyone_else(
    world: World, sender: str, sender_type: str
) -> None:
    variables = {"c": world.conversation, "s": sender, "t": sender_type}
    assert await code_of(world["bob"], SEND, variables) == "FORBIDDEN"


async def test_finding3_a_member_speaks_as_themselves_and_their_own_agent(world: World) -> None:
    for sender, sender_type in (("bob", "USER"), ("bob-bot", "AGENT")):
        variables = {"c": world.conversation, "s": sender, "t": sender_type}
        assert await code_of(world["bob"], SEND, variables) is None
    # bob's agent key speaks as its agent, and as bob.
    for sender, sender_type in (("bob-bot", "AGENT"), ("bob", "USER")):
        variables = {"c": world.conversation, "s": sender, "t": sender_type}
        assert await code_of(world.bob_bot, SEND, variables) is None
    variables = {"c": world.conversation, "s": "alice-bot", "t": "AGENT"}
    assert await code_of(world.bob_bot, SEND, variables) == "FORBIDDEN"


async def test_finding3_a_member_cannot_answer_the_agent_as_alice(world: World) -> None:
    start = """
    mutation($c: ID!) {
      startAgentSession(input: {conversationId: $c, profileName: "alice-bot"}) { id }
    }"""
    ask = 'mutation($c: ID!) { askUser(input: {conversationId: $c, question: "where?"}) { id } }'
    answer = """
    mutation($c: ID!, $s: String!) {
      answerAgent(input: {conversationId: $c, answer: "Europe", senderId: $s}) { id }
    }"""
    c = {"c": world.conversation}
    assert await code_of(world["bob"], start, c) == "FORBIDDEN"  # not bob's agent
    await world.alice_bot.data(start, c)
    await world.alice_bot.data(ask, c)
    assert await code_of(world["bob"], answer, {**c, "s": "alice"}) == "FORBIDDEN"
    assert await code_of(world["bob"], answer, {**c, "s": "bob"}) is None


async def test_finding3_a_member_cannot_score_as_alice(world: World) -> None:
    score = """
    mutation($m: ID!, $a: String!, $t: ParticipantType!) {
      addScore(input: {targetId: $m, name: "ok", kind: BOOLEAN, value: 1, author: $a,
                       authorType: $t}) { authorId }
    }"""
    target = {"m": world.messages["alice"]}
    assert await code_of(world["bob"], score, {**target, "a": "alice", "t": "USER"}) == "FORBIDDEN"
    assert await code_of(world["bob"], score, {**target, "a": "bob-bot", "t": "AGENT"}) is None


async def test_finding3_a_member_cannot_edit_alices_message(world: World) -> None:
    edit = 'mutation($m: ID!) { editMessage(input: {messageId: $m, content: "I resign"}) { id } }'
    assert await code_of(world["bob"], edit, {"m": world.messages["alice"]}) == "FORBIDDEN"
    # Nor may the owner put words in bob's mouth.
    assert await code_of(world["alice"], edit, {"m": world.messages["bob"]}) == "FORBIDDEN"


async def test_finding3_a_member_cannot_remove_the_owners_agent(world: World) -> None:
    remove = """
    mutation($c: ID!) { removeParticipant(conversationId: $c, participantId: "alice-bot") { id } }
    """
    assert await code_of(world["bob"], remove, {"c": world.conversation}) == "FORBIDDEN"


async def test_finding4_component_keys_cannot_be_squatted(world: World) -> None:
    alice, bob = world["alice"], world["bob"]
    await alice.data(REGISTER, {"key": "summarize", "d": {"text": "v1"}})
    assert await code_of(bob, REGISTER, {"key": "summarize", "d": {"text": "evil"}}) == "FORBIDDEN"
    latest = await alice.data(REGISTER, {"key": "summarize", "d": {"text": "v2"}})
    assert latest["registerComponentVersion"]["versionNumber"] == 2
    # Registering content alice already has is a lookup, which anybody may do.
    same = await bob.data(REGISTER, {"key": "summarize", "d": {"text": "v1"}})
    assert same["registerComponentVersion"]["versionNumber"] == 1


async def test_finding4_a_private_component_is_its_owners_alone(world: World) -> None:
    private = """
    mutation { registerComponentVersion(input: {componentKey: "secret-sauce", type: PROMPT,
                 definition: {text: "s"}, private: true}) { id } }"""
    version = (await world["alice"].data(private))["registerComponentVersion"]["id"]
    by_key = 'query { component(key: "secret-sauce") { id } components { totalCount } }'
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await world["alice"].data(by_key))["component"] is not None
    seen = await world["bob"].data(by_key)
    assert seen["component"] is None
    assert seen["components"]["totalCount"] == 0
    assert (await world["bob"].data(node, {"id": version}))["node"] is None
    squat = {"key": "secret-sauce", "d": {"text": "s"}}
    assert await code_of(world["bob"], REGISTER, squat) == "NOT_FOUND"


async def test_finding6_participant_nodes_stay_in_their_conversation(world: World) -> None:
    query = "query($c: ID!) { conversation(id: $c) { participants { id participantId } } }"
    found = await world["alice"].data(query, {"c": world.conversation})
    participant = found["conversation"]["participants"][0]["id"]
    # carol takes part in a conversation of her own, which is what used to be enough.
    await factories.conversation(world["carol"], owner={"participantId": "carol"}, participants=[])
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await world["carol"].data(node, {"id": participant}))["node"] is None
    assert (await world["bob"].data(node, {"id": participant}))["node"] == {"id": participant}


@pytest.mark.parametrize("kind", ["Conversation", "Message"])
async def test_finding11_client_ids_of_invisible_rows_answer_not_found(
    world: World, kind: str
) -> None:
    """carol learns nothing from choosing the id of a row she cannot see: NOT_FOUND, as
    for any reference to it, not CONFLICT."""
    mine = await factories.conversation(
        world["carol"], owner={"participantId": "carol"}, participants=[]
    )
    taken = {"Conversation": world.conversation, "Message": world.messages["alice"]}[kind]
    raw_id = str(from_global_id(taken)[1])
    if kind == "Conversation":
        document = factories.mutation_document("createConversation", "id")
        variables = {"input": {"id": raw_id, "owner": {"participantId": "carol"}}}
    else:
        document = factories.mutation_document("sendMessage", "id")
        variables = {"input": {"id": raw_id, "conversationId": mine["id"], "senderId": "carol"}}
    assert await code_of(world["carol"], document, variables) == "NOT_FOUND"


async def test_new_key_for_an_unregistered_agent_claims_it(world: World) -> None:
    secret, _ = await new_key(world["carol"], ["READ"], agent_id="carol-bot")
    assert secret.startswith("tl_")
    assert await _key_for(world, "carol-bot") == "FORBIDDEN"
    agents = await world["carol"].data("{ agents { agentId } }")
    assert agents == {"agents": [{"agentId": "carol-bot"}]}
