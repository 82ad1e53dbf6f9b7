"""The attacker's world: two users, a member, an observer, a stranger, and agent keys.

alice owns a conversation. bob is a MEMBER of it, erin an OBSERVER (she was a member
and said something first, then alice demoted her), carol a stranger. alice registered
the agent `alice-bot`, a member of the conversation; her key speaks as it. bob has
an agent of his own, `bob-bot`, with a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_key, as_user, new_key

SET_ROLE = """
mutation($c: ID!, $p: String!, $role: ParticipantRole!) {
  setParticipantRole(conversationId: $c, participantId: $p, role: $role) { role }
}"""
REGISTER_AGENT = "mutation($a: String!) { registerAgent(agentId: $a) { agentId } }"


@dataclass
class World:
    http: httpx.AsyncClient
    users: dict[str, GraphQLClient]
    alice_bot: GraphQLClient  # alice's key, speaking as her agent alice-bot
    bob_bot: GraphQLClient  # bob's key, speaking as his agent bob-bot
    conversation: str
    # Each participant's own message in the conversation, by user id.
    messages: dict[str, str] = field(default_factory=dict)
    # The conversation as conversationExport gave it to alice, where a test asks.
    export: Any = None

    def __getitem__(self, user: str) -> GraphQLClient:
        return self.users[user]


async def build(http: httpx.AsyncClient) -> World:
    users = {name: as_user(http, name) for name in ("alice", "bob", "erin", "carol")}
    alice, bob = users["alice"], users["bob"]
    await alice.data(REGISTER_AGENT, {"a": "alice-bot"})
    await bob.data(REGISTER_AGENT, {"a": "bob-bot"})
    alice_secret, _ = await new_key(alice, ["READ", "WRITE"], agent_id="alice-bot")
    bob_secret, _ = await new_key(bob, ["READ", "WRITE"], agent_id="bob-bot")
    conversation = await factories.conversation(
        alice,
        owner={"participantId": "alice"},
        participants=[
            {"participantId": "bob"},
            {"participantId": "erin"},
            {"participantId": "alice-bot", "participantType": "AGENT"},
        ],
    )
    c = conversation["id"]
    world = World(http, users, as_key(http, alice_secret), as_key(http, bob_secret), c)
    for name in ("alice", "bob", "erin"):
        said = await factories.message(users[name], c, senderId=name, content=f"{name} here")
        world.messages[name] = said["id"]
    await alice.data(SET_ROLE, {"c": c, "p": "erin", "role": "OBSERVER"})
    return world


async def owner_view(world: World) -> Any:
    """What the owner sees of the conversation: a refused attempt must leave it as is."""
    query = """
    query($c: ID!) {
      conversation(id: $c) {
        title summary status systemPrompt
        participants { participantId role active }
        messages { totalCount } plans { totalCount }
      }
    }"""
    return (await world["alice"].data(query, {"c": world.conversation}))["conversation"]


async def code_of(client: GraphQLClient, query: str, variables: dict[str, Any]) -> str | None:
    """The first error's code, or None when the operation succeeded."""
    body = await client.execute(query, variables)
    errors = body.get("errors")
    return errors[0]["extensions"]["code"] if errors else None
