"""The conversation list's contract and parent conversations (issue 19, section 5).

The list leaves ARCHIVED and CLOSED conversations out unless its filter names them, on
the resolvers' path, the compiled path and the live feed of the same filter alike;
`participantType` says which participant `participantId` names; a conversation can name
the conversation it serves (`parentConversation` / `childConversations`), and each side
shows only what the reader may see.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx

from bench.deep_read import LIST_PAGE
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.identities import as_key, as_user, new_key, register_agent
from tests.schema import test_compiled_path as compiled
from tests.schema.test_compiled_path import Spy, same
from tests.ws_client import GraphQLWebSocket

# The compiled path's spy fixture, as its own tests use it.
spy = compiled.spy

LIST = """query($filter: ConversationFilter) {
  conversations(filter: $filter, orderBy: {field: CREATED_AT, direction: ASC}) {
    totalCount nodes { title }
  }
}"""
EVERY_STATUS = {"statuses": ["ACTIVE", "ARCHIVED", "CLOSED"]}
CREATE = factories.mutation_document("createConversation", "id")
FAMILY = """query($id: ID!) {
  conversation(id: $id) {
    title
    parentConversation { title }
    childConversations { totalCount nodes { title } }
  }
}"""
MISSING = to_global_id("Conversation", uuid.uuid4())
# Two parties of one name.
USER_ALICE = {"participantId": "alice"}
AGENT_ALICE = {"participantId": "alice", "participantType": "AGENT"}


async def listed(gql: GraphQLClient, filter: dict[str, Any] | None = None) -> tuple[int, list[str]]:
    """The list's totalCount and titles, oldest first."""
    found = (await gql.data(LIST, {"filter": filter}))["conversations"]
    return found["totalCount"], [node["title"] for node in found["nodes"]]


async def change_status(gql: GraphQLClient, verb: str, conversation_id: str) -> None:
    await gql.data(f"mutation($c: ID!) {{ {verb}(id: $c) {{ id }} }}", {"c": conversation_id})


async def family(gql: GraphQLClient, conversation_id: str) -> Any:
    return (await gql.data(FAMILY, {"id": conversation_id}))["conversation"]


def owned_by(user: str, **input: Any) -> dict[str, Any]:
    """createConversation's input for a conversation of `user` with nobody else."""
    return {"owner": {"participantId": user}, "participants": [], **input}


# --- Archived and closed conversations ----------------------------------------------


async def test_archived_and_closed_conversations_are_listed_only_when_asked_for(
    gql: GraphQLClient,
) -> None:
    ids = {}
    for title in ("open", "archived", "closed", "archived, then closed"):
        ids[title] = (await factories.conversation(gql, title=title, tags=["t"]))["id"]
    await change_status(gql, "archiveConversation", ids["archived"])
    await change_status(gql, "closeConversation", ids["closed"])
    await change_status(gql, "archiveConversation", ids["archived, then closed"])
    await change_status(gql, "closeConversation", ids["archived, then closed"])
    assert await listed(gql) == (1, ["open"])
    assert await listed(gql, {"statuses": []}) == (1, ["open"])
    # Other conditions keep the default.
    assert await listed(gql, {"tag": "t"}) == (1, ["open"])
    assert await listed(gql, {"titleContains": "closed"}) == (0, [])
    assert await listed(gql, {"statuses": ["ARCHIVED"]}) == (1, ["archived"])
    closed = (2, ["closed", "archived, then closed"])
    assert await listed(gql, {"statuses": ["CLOSED"]}) == closed
    assert await listed(gql, {"statuses": ["CLOSED"], "tag": "t"}) == closed
    assert (await listed(gql, EVERY_STATUS))[0] == 4
    await change_status(gql, "restoreConversation", ids["archived"])
    assert await listed(gql) == (2, ["open", "archived"])


async def test_the_compiled_list_page_leaves_them_out_too(
    http: httpx.AsyncClient, gql: GraphQLClient, spy: Spy
) -> None:
    shown = await factories.conversation(gql, title="open")
    for verb in ("archiveConversation", "closeConversation"):
        hidden = await factories.conversation(gql, title=verb)
        await change_status(gql, verb, hidden["id"])
    # The list page the bench measures, compiled on PostgreSQL.
    page = json.loads(await same(http, spy, LIST_PAGE))["data"]["conversations"]
    assert page["totalCount"] == 1
    assert [node["id"] for node in page["nodes"]] == [shown["id"]]
    for filter, count in (
        (None, 1),
        ({"statuses": []}, 1),
        ({"statuses": ["ARCHIVED", "CLOSED"]}, 2),
        (EVERY_STATUS, 3),
        ({"statuses": ["CLOSED"], "titleContains": "close"}, 1),
    ):
        body = await same(http, spy, compiled.LISTS, {"filter": filter})
        assert json.loads(body)["data"]["conversations"]["totalCount"] == count, filter


# --- participantType ----------------------------------------------------------------


async def with_both_alices(gql: GraphQLClient) -> None:
    await factories.conversation(gql, title="with the user", participants=[USER_ALICE])
    await factories.conversation(gql, title="with the agent", participants=[AGENT_ALICE])


async def test_participant_type_says_which_participant_is_meant(gql: GraphQLClient) -> None:
    await with_both_alices(gql)
    await factories.conversation(gql, title="without alice")
    assert await listed(gql, USER_ALICE) == (2, ["with the user", "with the agent"])
    assert await listed(gql, {**USER_ALICE, "participantType": "USER"}) == (1, ["with the user"])
    assert await listed(gql, AGENT_ALICE) == (1, ["with the agent"])
    assert await listed(gql, {**USER_ALICE, "participantType": "SYSTEM"}) == (0, [])
    error = await gql.error(LIST, {"filter": {"participantType": "AGENT"}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "participantId" in error["message"]


async def test_the_compiled_list_filters_by_typed_participant(
    http: httpx.AsyncClient, gql: GraphQLClient, spy: Spy
) -> None:
    await with_both_alices(gql)
    body = await same(http, spy, compiled.LISTS, {"filter": AGENT_ALICE})
    nodes = json.loads(body)["data"]["conversations"]["nodes"]
    assert [node["title"] for node in nodes] == ["with the agent"]
    # A type without an id: refused, by the normal path (the compiled one steps aside).
    alone = {"filter": {"participantType": "AGENT"}}
    body = await same(http, spy, compiled.LISTS, alone, compiles=False)
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_agent_lists_its_own_conversations_not_a_users_of_its_name(
    secured_http: httpx.AsyncClient,
) -> None:
    http = secured_http
    dave, alice, carol = (as_user(http, name) for name in ("dave", "alice", "carol"))
    await register_agent(dave, "alice")
    for title, participant in (("1", USER_ALICE), ("2", AGENT_ALICE)):
        input = owned_by("dave", title=title, participants=[participant])
        await factories.mutate(dave, "createConversation", input)
    await factories.mutate(alice, "createConversation", owned_by("alice", title="3"))
    secret, _ = await new_key(dave, ["READ"], agent_id="alice")
    as_agent = as_key(http, secret)
    # The key sees dave's conversations: by id alone, the user alice's one too.
    assert await listed(as_agent, USER_ALICE) == (2, ["1", "2"])
    assert await listed(as_agent, AGENT_ALICE) == (1, ["2"])
    assert await listed(alice, {**USER_ALICE, "participantType": "USER"}) == (2, ["1", "3"])
    assert await listed(alice, AGENT_ALICE) == (0, [])
    # A type narrows what one sees; it never shows more.
    for participant_type in ("USER", "AGENT"):
        filter = {**USER_ALICE, "participantType": participant_type}
        assert await listed(carol, filter) == (0, [])


# --- The live feed of a list ----------------------------------------------------------

ACTIVITY = """subscription($f: ConversationFilter) {
  conversationsActivity(filter: $f) { kind conversation { title } }
}"""


async def test_the_live_feed_follows_the_default_list(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    archived = await factories.conversation(gql, title="archived")
    await change_status(gql, "archiveConversation", archived["id"])
    op = await ws.subscribe(ACTIVITY)
    await asyncio.sleep(0.2)
    await factories.message(gql, archived["id"])  # not on the list: not sent
    shown = await factories.conversation(gql, title="open")
    await change_status(gql, "archiveConversation", shown["id"])  # leaves the list: sent
    events = [e["conversationsActivity"] for e in await ws.collect(op, 2)]
    assert [(e["kind"], e["conversation"]["title"]) for e in events] == [
        ("CONVERSATION_CREATED", "open"),
        ("CONVERSATION_STATUS", "open"),
    ]
    await ws.nothing_more(op)


async def test_the_live_feed_tells_a_user_from_an_agent_of_the_same_name(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    op = await ws.subscribe(ACTIVITY, {"f": AGENT_ALICE})
    await asyncio.sleep(0.2)
    await with_both_alices(gql)
    event = (await ws.next(op))["conversationsActivity"]
    assert event == {"kind": "CONVERSATION_CREATED", "conversation": {"title": "with the agent"}}
    await ws.nothing_more(op)


# --- Parent and child conversations -----------------------------------------------------


async def test_a_conversation_names_the_conversation_it_serves(gql: GraphQLClient) -> None:
    parent = await factories.conversation(gql, title="user chat")
    created = []
    for title in ("planner", "researcher"):
        child = await factories.conversation(
            gql,
            fields="id parentConversation { id }",
            title=title,
            kind="AGENT_AGENT",
            parentConversationId=parent["id"],
        )
        assert child["parentConversation"] == {"id": parent["id"]}
        created.append(child["id"])
    children = {"totalCount": 2, "nodes": [{"title": "planner"}, {"title": "researcher"}]}
    assert await family(gql, parent["id"]) == {
        "title": "user chat",
        "parentConversation": None,
        "childConversations": children,
    }
    assert await family(gql, created[0]) == {
        "title": "planner",
        "parentConversation": {"title": "user chat"},
        "childConversations": {"totalCount": 0, "nodes": []},
    }
    # Children are links, not the conversations list: listed whatever their status.
    await change_status(gql, "closeConversation", created[1])
    assert (await family(gql, parent["id"]))["childConversations"] == children
    # Paged as every connection.
    paged = """query($id: ID!, $after: String) { conversation(id: $id) {
      childConversations(first: 1, after: $after) {
        pageInfo { hasNextPage endCursor } nodes { title } } } }"""
    first = (await gql.data(paged, {"id": parent["id"]}))["conversation"]["childConversations"]
    assert (first["nodes"], first["pageInfo"]["hasNextPage"]) == ([{"title": "planner"}], True)
    after = {"id": parent["id"], "after": first["pageInfo"]["endCursor"]}
    rest = (await gql.data(paged, after))["conversation"]["childConversations"]
    assert (rest["nodes"], rest["pageInfo"]["hasNextPage"]) == ([{"title": "researcher"}], False)


async def test_a_parent_must_be_a_conversation_one_can_see(gql: GraphQLClient) -> None:
    conversation = await factories.conversation(gql)
    message = await factories.message(gql, conversation["id"])
    for parent_id, code in (
        (MISSING, "NOT_FOUND"),
        (message["id"], "BAD_USER_INPUT"),
        ("not an id", "BAD_USER_INPUT"),
    ):
        input = owned_by("user-1", parentConversationId=parent_id)
        assert await gql.error_code(CREATE, {"input": input}) == code, parent_id
    # A client-chosen id cannot name the conversation itself: it does not exist yet.
    itself = str(uuid.uuid4())
    input = owned_by("user-1", id=itself, parentConversationId=to_global_id("Conversation", itself))
    assert await gql.error_code(CREATE, {"input": input}) == "NOT_FOUND"
    assert (await listed(gql, EVERY_STATUS))[0] == 1


async def test_nobody_names_someone_elses_conversation_as_parent(
    secured_http: httpx.AsyncClient,
) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    parent = await factories.mutate(alice, "createConversation", owned_by("alice"))
    theirs = owned_by("carol", parentConversationId=parent["id"])
    hidden = await carol.error(CREATE, {"input": theirs})
    missing = await carol.error(CREATE, {"input": {**theirs, "parentConversationId": MISSING}})
    # Exactly what a conversation that does not exist gets: nothing to learn from it.
    assert hidden["extensions"]["code"] == missing["extensions"]["code"] == "NOT_FOUND"
    assert hidden["message"].split("'")[0] == missing["message"].split("'")[0]
    assert (await listed(carol, EVERY_STATUS))[0] == 0
    assert (await family(alice, parent["id"]))["childConversations"]["totalCount"] == 0


async def test_parents_and_children_show_only_what_the_reader_may_see(
    secured_http: httpx.AsyncClient,
) -> None:
    http = secured_http
    alice, carol, erin = (as_user(http, name) for name in ("alice", "carol", "erin"))
    carol_joins = owned_by("alice", title="alice's", participants=[{"participantId": "carol"}])
    parent = await factories.mutate(alice, "createConversation", carol_joins)
    mine = owned_by("alice", title="alice's child", parentConversationId=parent["id"])
    await factories.mutate(alice, "createConversation", mine)
    # carol, a participant of the parent, serves it with erin, who is not.
    theirs = owned_by(
        "carol",
        title="carol's child",
        participants=[{"participantId": "erin"}],
        parentConversationId=parent["id"],
    )
    child = await factories.mutate(carol, "createConversation", theirs)
    only = {"totalCount": 1, "nodes": [{"title": "alice's child"}]}
    assert (await family(alice, parent["id"]))["childConversations"] == only
    only = {"totalCount": 1, "nodes": [{"title": "carol's child"}]}
    assert (await family(carol, parent["id"]))["childConversations"] == only
    assert (await family(carol, child["id"]))["parentConversation"] == {"title": "alice's"}
    # erin sees the child, not the parent it serves.
    assert (await family(erin, child["id"]))["parentConversation"] is None
    assert await family(erin, parent["id"]) is None
    assert await family(alice, child["id"]) is None


async def test_a_fork_of_a_child_has_no_parent(gql: GraphQLClient) -> None:
    # Only createConversation names a parent, checked against who names it: a fork made
    # by a participant of the child who cannot see the parent must not add it a child.
    parent = await factories.conversation(gql, title="parent")
    child = await factories.conversation(gql, title="child", parentConversationId=parent["id"])
    message = await factories.message(gql, child["id"])
    fork = 'mutation($m: ID!) { forkConversation(fromMessageId: $m, title: "fork") { id } }'
    forked = (await gql.data(fork, {"m": message["id"]}))["forkConversation"]["id"]
    assert (await family(gql, forked))["parentConversation"] is None
    assert (await family(gql, parent["id"]))["childConversations"]["totalCount"] == 1


async def test_deleting_a_parent_leaves_its_children(gql: GraphQLClient) -> None:
    parent = await factories.conversation(gql, title="parent")
    child = await factories.conversation(gql, title="child", parentConversationId=parent["id"])
    delete = "mutation($id: ID!) { deleteConversation(id: $id) { deletedId } }"
    await gql.data(delete, {"id": parent["id"]})
    assert await family(gql, child["id"]) == {
        "title": "child",
        "parentConversation": None,
        "childConversations": {"totalCount": 0, "nodes": []},
    }


PARENTS = """query($first: Int!) {
  conversations(first: $first) {
    nodes {
      id
      parentConversation { id title }
      childConversations(first: 5) { totalCount nodes { id title } }
    }
  }
}"""


async def test_parents_and_children_of_a_page_take_the_same_statements_as_of_two(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    for p in range(10):
        parent = await factories.conversation(gql, title=f"parent {p}")
        for c in range(4):
            await factories.conversation(gql, title=f"{p}.{c}", parentConversationId=parent["id"])

    async def statements(first: int) -> tuple[int, list[Any]]:
        sql.reset()
        nodes = (await gql.data(PARENTS, {"first": first}))["conversations"]["nodes"]
        assert len(nodes) == first
        return sql.count, nodes

    small, _ = await statements(2)
    large, nodes = await statements(50)
    # One statement for the page, one for the parents, two for the children (and totals).
    assert large == small <= 4, sql.statements
    parents = [n for n in nodes if n["parentConversation"] is None]
    assert len(parents) == 10
    assert all(n["childConversations"]["totalCount"] == 4 for n in parents)
    children = [n for n in nodes if n["parentConversation"] is not None]
    assert all(n["childConversations"]["totalCount"] == 0 for n in children)
    served = {n["parentConversation"]["title"] for n in children}
    assert served == {f"parent {p}" for p in range(10)}


async def test_the_compiled_entry_points_answer_parents_and_children(
    http: httpx.AsyncClient, gql: GraphQLClient, spy: Spy
) -> None:
    parent = await factories.conversation(gql, title="parent")
    child = await factories.conversation(gql, title="child", parentConversationId=parent["id"])
    # The compiled path does not build these fields: it steps aside, and the answer is
    # the normal path's.
    body = await same(http, spy, FAMILY, {"id": parent["id"]}, compiles=False)
    assert json.loads(body)["data"]["conversation"]["childConversations"] == {
        "totalCount": 1,
        "nodes": [{"title": "child"}],
    }
    page = "{ conversations(first: 50) { totalCount nodes { id parentConversation { id } } } }"
    body = await same(http, spy, page, compiles=False)
    nodes = json.loads(body)["data"]["conversations"]["nodes"]
    assert nodes == [
        {"id": child["id"], "parentConversation": {"id": parent["id"]}},
        {"id": parent["id"], "parentConversation": None},
    ]
