"""What each role may do in a conversation: the one table every check reads.

A conversation's owner may do everything. Its participants act by role: a MEMBER
reads, posts as themselves, runs agents' work and scores as themselves; an OBSERVER
only reads. Everybody else does not see the conversation at all (resolvers.access).
"""

from __future__ import annotations

from enum import Enum, IntEnum

from models.enums import ParticipantRole


class Access(IntEnum):
    """How much of a conversation an action needs; each level includes the ones below."""

    READ = 1
    WRITE = 2
    MANAGE = 3
    # More than anybody has (development mode aside).
    NOBODY = 4


# What each role is given. The conversation's owner has MANAGE whatever their row says.
ROLE_ACCESS = {
    ParticipantRole.OBSERVER: Access.READ,
    ParticipantRole.MEMBER: Access.WRITE,
    ParticipantRole.OWNER: Access.MANAGE,
}


class Action(Enum):
    """Everything a caller can do to a conversation, with the access it needs."""

    READ = ("read it, export it, subscribe to it", Access.READ)
    LEAVE = ("leave it (remove yourself)", Access.READ)
    POST = ("send messages and answer the agent as yourself", Access.WRITE)
    EDIT_OWN = ("edit or delete your own messages and scores", Access.WRITE)
    # The copy belongs to the conversation's owner, with the same participants.
    FORK = ("fork it", Access.WRITE)
    RUN_AGENT = ("run agents' work: sessions, chunks, tools, plans, traces, memory", Access.WRITE)
    SCORE = ("score messages, spans and traces as yourself", Access.WRITE)
    UPDATE = ("change its title, system prompt, settings, tags", Access.MANAGE)
    SET_STATUS = ("archive, restore or close it", Access.MANAGE)
    DELETE = ("delete it", Access.MANAGE)
    MODERATE = ("delete other participants' messages and scores", Access.MANAGE)
    INVITE = ("add participants", Access.MANAGE)
    REMOVE_OTHERS = ("remove participants or change their roles", Access.MANAGE)
    # Edit what somebody else said, in their name: no role may.
    NOBODY = ("change what another participant said", Access.NOBODY)

    def __init__(self, description: str, access: Access) -> None:
        self.description = description
        self.access = access


def roles_with(access: Access) -> frozenset[ParticipantRole]:
    """The participant roles that give at least `access`."""
    return frozenset(role for role, given in ROLE_ACCESS.items() if given >= access)


def may(role: ParticipantRole, action: Action) -> bool:
    return ROLE_ACCESS[role] >= action.access
