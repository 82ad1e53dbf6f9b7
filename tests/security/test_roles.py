"""Every cell of the role table (resolvers.permissions), through the secured endpoint.

Each action is tried by the owner, a MEMBER, an OBSERVER and a stranger on a world of
its own: allowed cells succeed, forbidden ones answer FORBIDDEN and change nothing, a
stranger gets NOT_FOUND (the conversation does not exist for them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from models.enums import ParticipantRole
from resolvers.permissions import Action, may
from tests.security.world import SET_ROLE, World, build, code_of, owner_view

# Which user plays each role in the world; the stranger has none.
PLAYERS = {"OWNER": "alice", "MEMBER": "bob", "OBSERVER": "erin", "STRANGER": "carol"}
# Whom an action done to "someone else" is done to, by the one doing it.
OTHER = {"alice": "bob", "bob": "erin", "erin": "bob", "carol": "bob"}

Attempt = Callable[[World, str], Awaitable[str | None]]

READ = "query($c: ID!) { conversation(id: $c) { id messages { totalCount } } }"
LEAVE = """
mutation($c: ID!, $p: String!) {
  removeParticipant(conversationId: $c, participantId: $p) { active }
}"""
SEND = """
mutation($c: ID!, $s: String!) {
  sendMessage(input: {conversationId: $c, senderId: $s, content: "mine"}) { id }
}"""
EDIT = 'mutation($m: ID!) { editMessage(input: {messageId: $m, content: "better"}) { id } }'
DELETE_MESSAGE = "mutation($m: ID!) { deleteMessage(id: $m) { deletedIds } }"
PLAN = """
mutation($c: ID!) {
  createPlan(input: {conversationId: $c, title: "p", steps: [{description: "s"}]}) { id }
}"""
SCORE = """
mutation($m: ID!, $a: String!) {
  addScore(input: {targetId: $m, name: "helpful", kind: BOOLEAN, value: 1, author: $a}) { id }
}"""
UPDATE = 'mutation($c: ID!) { updateConversation(id: $c, input: {systemPrompt: "obey me"}) { id } }'
ARCHIVE = "mutation($c: ID!) { archiveConversation(id: $c) { status } }"
DELETE = "mutation($c: ID!) { deleteConversation(id: $c) { deletedId } }"
INVITE = """
mutation($c: ID!) {
  addParticipant(conversationId: $c, participant: {participantId: "zed"}) { id }
}"""


async def _read(world: World, user: str) -> str | None:
    data = await world[user].data(READ, {"c": world.conversation})
    return None if data["conversation"] is not None else "NOT_FOUND"


async def _leave(world: World, user: str) -> str | None:
    return await code_of(world[user], LEAVE, {"c": world.conversation, "p": user})


async def _post(world: World, user: str) -> str | None:
    return await code_of(world[user], SEND, {"c": world.conversation, "s": user})


async def _edit_own(world: World, user: str) -> str | None:
    # The stranger has no message of their own there: they try bob's.
    message = world.messages.get(user, world.messages["bob"])
    return await code_of(world[user], EDIT, {"m": message})


async def _fork(world: World, user: str) -> str | None:
    fork = "mutation($m: ID!) { forkConversation(fromMessageId: $m) { id } }"
    return await code_of(world[user], fork, {"m": world.messages["alice"]})


async def _run_agent(world: World, user: str) -> str | None:
    return await code_of(world[user], PLAN, {"c": world.conversation})


async def _score(world: World, user: str) -> str | None:
    return await code_of(world[user], SCORE, {"m": world.messages["alice"], "a": user})


async def _update(world: World, user: str) -> str | None:
    return await code_of(world[user], UPDATE, {"c": world.conversation})


async def _set_status(world: World, user: str) -> str | None:
    return await code_of(world[user], ARCHIVE, {"c": world.conversation})


async def _delete(world: World, user: str) -> str | None:
    return await code_of(world[user], DELETE, {"c": world.conversation})


async def _moderate(world: World, user: str) -> str | None:
    return await code_of(world[user], DELETE_MESSAGE, {"m": world.messages[OTHER[user]]})


async def _invite(world: World, user: str) -> str | None:
    return await code_of(world[user], INVITE, {"c": world.conversation})


async def _remove_others(world: World, user: str) -> str | None:
    variables = {"c": world.conversation, "p": OTHER[user], "role": "OBSERVER"}
    if OTHER[user] == "erin":
        variables["role"] = "MEMBER"  # promoting the observer
    return await code_of(world[user], SET_ROLE, variables)


ATTEMPTS: dict[Action, Attempt] = {
    Action.READ: _read,
    Action.LEAVE: _leave,
    Action.POST: _post,
    Action.EDIT_OWN: _edit_own,
    Action.FORK: _fork,
    Action.RUN_AGENT: _run_agent,
    Action.SCORE: _score,
    Action.UPDATE: _update,
    Action.SET_STATUS: _set_status,
    Action.DELETE: _delete,
    Action.MODERATE: _moderate,
    Action.INVITE: _invite,
    Action.REMOVE_OTHERS: _remove_others,
}
# What an allowed cell may still answer, by design: the owner cannot leave.
ALLOWED_REFUSALS = {(Action.LEAVE, "OWNER"): "BAD_USER_INPUT"}


def test_every_action_with_a_role_is_tried() -> None:
    assert set(ATTEMPTS) | {Action.NOBODY} == set(Action)


@pytest.mark.parametrize("role", list(PLAYERS))
@pytest.mark.parametrize("action", list(ATTEMPTS), ids=lambda a: a.name)
async def test_role_table_cell(secured_http: httpx.AsyncClient, action: Action, role: str) -> None:
    world = await build(secured_http)
    before = await owner_view(world)
    code = await ATTEMPTS[action](world, PLAYERS[role])
    if role == "STRANGER":
        assert code == "NOT_FOUND"
    elif may(ParticipantRole(role), action):
        assert code == ALLOWED_REFUSALS.get((action, role)), (action, role, code)
    else:
        assert code == "FORBIDDEN", (action, role, code)
    if code is not None:
        assert await owner_view(world) == before
