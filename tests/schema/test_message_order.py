"""Messages newest first (`Conversation.messages(orderBy:)`) and `Message.preview`, through
/graphql: pages both ways with their cursors, on the latest branch, a named branch and
every branch; the compiled path; who may read what; statements that do not grow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.identities import as_user
from tests.schema import test_compiled_path as compiled_path

# The compiled path's spy (tests/schema/test_compiled_path.py), as a fixture of this module.
spy = compiled_path.spy

PAGE = """query($c: ID!, $branch: ID, $all: Boolean, $order: MessageOrder,
               $first: Int, $after: String, $last: Int, $before: String) {
  conversation(id: $c) {
    messages(branch: $branch, allBranches: $all, orderBy: $order,
             first: $first, after: $after, last: $last, before: $before) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id seq }
    }
  }
}"""
NEWEST_FIRST = {"direction": "DESC"}
OLDEST_FIRST = {"direction": "ASC"}
DEFAULT_PAGE_SIZE = 50


@dataclass
class Branched:
    """25 messages in a row, then 3 more replying to the 10th: the latest branch is the
    first 10 and those 3; the 25th message is the leaf of the other branch."""

    id: str
    trunk: list[str]
    side: list[str]

    @property
    def latest(self) -> list[str]:
        return self.trunk[:10] + self.side

    @property
    def everything(self) -> list[str]:
        return self.trunk + self.side


async def branched(gql: GraphQLClient) -> Branched:
    c = (await factories.conversation(gql))["id"]
    trunk = [(await factories.message(gql, c, content=f"m{n}"))["id"] for n in range(25)]
    side: list[str] = []
    for n in range(3):
        parent = side[-1] if side else trunk[9]
        found = await factories.message(gql, c, content=f"s{n}", parentMessageId=parent)
        side.append(found["id"])
    return Branched(c, trunk, side)


async def page_of(gql: GraphQLClient, variables: dict[str, Any]) -> Any:
    return (await gql.data(PAGE, variables))["conversation"]["messages"]


async def pages(
    gql: GraphQLClient, variables: dict[str, Any], size: int, *, backward: bool
) -> list[list[str]]:
    """The list read page by page, from its start (`first`/`after`) or from its end
    (`last`/`before`): each page's ids, in list order, in the order read."""
    found: list[list[str]] = []
    cursor = None
    while True:
        if backward:
            page = await page_of(gql, {**variables, "last": size, "before": cursor})
        else:
            page = await page_of(gql, {**variables, "first": size, "after": cursor})
        found.append([node["id"] for node in page["nodes"]])
        info = page["pageInfo"]
        # Each page knows what is on its other side: where it came from.
        assert info["hasNextPage" if backward else "hasPreviousPage"] is (cursor is not None)
        if not info["hasPreviousPage" if backward else "hasNextPage"]:
            return found
        cursor = info["startCursor" if backward else "endCursor"]


async def test_newest_first_pages_both_ways_on_every_branch_argument(gql: GraphQLClient) -> None:
    conversation = await branched(gql)
    for selection, expected in (
        ({}, conversation.latest),
        ({"branch": conversation.trunk[-1]}, conversation.trunk),
        ({"all": True}, conversation.everything),
    ):
        for order, listed in (
            (NEWEST_FIRST, expected[::-1]),
            (OLDEST_FIRST, expected),
            (None, expected),
        ):
            variables = {"c": conversation.id, **selection, "order": order}
            forwards = await pages(gql, variables, 10, backward=False)
            backwards = await pages(gql, variables, 10, backward=True)
            # By 10 from the start, and from the end: the last page read holds the rest.
            assert [len(p) for p in forwards][:-1] == [10] * (len(listed) // 10), variables
            assert [i for p in forwards for i in p] == listed, variables
            assert [i for p in backwards[::-1] for i in p] == listed, variables
            assert [len(p) for p in backwards][:-1] == [10] * (len(listed) // 10), variables
            whole = await page_of(gql, variables)
            assert whole["totalCount"] == len(expected)
            assert [node["id"] for node in whole["nodes"]] == listed


async def test_25_messages_by_10_newest_first(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    ids = [(await factories.message(gql, c, content=f"m{n}"))["id"] for n in range(25)]
    newest = ids[::-1]
    variables = {"c": c, "order": NEWEST_FIRST}
    assert await pages(gql, variables, 10, backward=False) == [
        newest[:10],
        newest[10:20],
        newest[20:],
    ]
    assert await pages(gql, variables, 10, backward=True) == [
        newest[15:],
        newest[5:15],
        newest[:5],
    ]
    # A cursor means the same message whichever way it was read.
    first = await page_of(gql, {**variables, "first": 10})
    seqs = [node["seq"] for node in first["nodes"]]
    assert seqs == sorted(seqs, reverse=True)
    back = await page_of(gql, {**variables, "last": 3, "before": first["pageInfo"]["endCursor"]})
    assert [node["id"] for node in back["nodes"]] == newest[6:9]
    assert (back["pageInfo"]["hasPreviousPage"], back["pageInfo"]["hasNextPage"]) == (True, True)


async def test_pages_between_two_cursors_newest_first(gql: GraphQLClient) -> None:
    conversation = await branched(gql)
    for selection, expected in (
        ({}, conversation.latest),
        ({"all": True}, conversation.everything),
    ):
        newest = expected[::-1]
        variables = {"c": conversation.id, **selection, "order": NEWEST_FIRST}
        low = (await page_of(gql, {**variables, "first": 2}))["pageInfo"]["endCursor"]
        high = (await page_of(gql, {**variables, "first": 11}))["pageInfo"]["endCursor"]
        between = {**variables, "after": low, "before": high}
        for args, ids, more in (
            ({"first": 3}, newest[2:5], (True, True)),
            ({"last": 3}, newest[7:10], (True, True)),
            ({"first": 20}, newest[2:10], (True, False)),
            ({"last": 20}, newest[2:10], (False, True)),
        ):
            found = await page_of(gql, {**between, **args})
            assert [node["id"] for node in found["nodes"]] == ids, (selection, args)
            info = found["pageInfo"]
            assert (info["hasPreviousPage"], info["hasNextPage"]) == more, (selection, args)


async def test_the_default_page_size_is_the_same_newest_first(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    ids = [(await factories.message(gql, c, content=f"m{n}"))["id"] for n in range(55)]
    for all_branches in (False, True):
        variables = {"c": c, "all": all_branches}
        oldest = await page_of(gql, variables)
        newest = await page_of(gql, {**variables, "order": NEWEST_FIRST})
        assert [node["id"] for node in oldest["nodes"]] == ids[:DEFAULT_PAGE_SIZE]
        assert [node["id"] for node in newest["nodes"]] == ids[::-1][:DEFAULT_PAGE_SIZE]
        assert newest["pageInfo"]["hasNextPage"] is True
        assert newest["totalCount"] == 55


async def test_an_empty_conversation_newest_first(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    for all_branches in (False, True):
        for args in ({"first": 10}, {"last": 10}):
            page = await page_of(gql, {"c": c, "all": all_branches, "order": NEWEST_FIRST, **args})
            assert page["nodes"] == []
            assert page["totalCount"] == 0
            assert page["pageInfo"] == {
                "hasNextPage": False,
                "hasPreviousPage": False,
                "startCursor": None,
                "endCursor": None,
            }


async def test_bad_cursors_and_branches_are_refused_newest_first(gql: GraphQLClient) -> None:
    conversation = await branched(gql)
    other = (await factories.conversation(gql))["id"]
    foreign = (await factories.message(gql, other))["id"]
    base = {"c": conversation.id, "order": NEWEST_FIRST}
    for variables, code in (
        ({"after": "not a cursor"}, "BAD_USER_INPUT"),
        ({"before": "bm90IGEgY3Vyc29y"}, "BAD_USER_INPUT"),
        ({"first": 1, "last": 1}, "BAD_USER_INPUT"),
        ({"branch": foreign}, "BAD_USER_INPUT"),
        ({"order": {"direction": "SIDEWAYS"}}, "BAD_USER_INPUT"),
    ):
        assert await gql.error_code(PAGE, {**base, **variables}) == code, variables


# --- Previews ---------------------------------------------------------------------------

PREVIEW = """query($c: ID!, $length: Int!) {
  conversation(id: $c) {
    lastMessage { preview(length: $length) }
    messages { nodes { preview } }
  }
}"""


async def preview_of(gql: GraphQLClient, length: int = 100, **message: Any) -> Any:
    """The preview of a new conversation's one message, as lastMessage and in its list
    (with the default length there)."""
    c = (await factories.conversation(gql))["id"]
    await factories.message(gql, c, **message)
    found = (await gql.data(PREVIEW, {"c": c, "length": length}))["conversation"]
    if length == 100:
        assert found["messages"]["nodes"] == [found["lastMessage"]]
    return found["lastMessage"]["preview"]


@pytest.mark.parametrize(
    ("content", "length", "expected"),
    [
        pytest.param("Hello there", 100, "Hello there", id="short"),
        pytest.param("  Hello\n\n\tthere  \r\n  you ", 100, "Hello there you", id="whitespace"),
        pytest.param("a\u00a0b\u2003\u2003c\u3000d", 100, "a b c d", id="unicode-spaces"),
        pytest.param("0123456789", 10, "0123456789", id="exactly-length"),
        pytest.param("0123456789A", 10, "012345678…", id="one-over"),
        pytest.param("hello world again", 7, "hello…", id="cut-at-a-space"),
        pytest.param("hello", 1, "…", id="length-1"),
        pytest.param("h", 1, "h", id="length-1-fits"),
        pytest.param("word " * 400, 1000, ("word " * 200).strip() + "…", id="max-length"),
        pytest.param("é" * 20, 10, "é" * 9 + "…", id="characters-not-bytes"),
    ],
)
async def test_preview_is_one_line_cut_with_an_ellipsis(
    gql: GraphQLClient, content: str, length: int, expected: str
) -> None:
    found = await preview_of(gql, length, content=content)
    assert found == expected
    assert len(found) <= length


async def test_the_default_preview_is_100_characters(gql: GraphQLClient) -> None:
    long = "lorem ipsum " * 50
    found = await preview_of(gql, content=long)
    assert len(found) == 100
    assert found == long[:99] + "…"


async def test_preview_of_a_message_of_parts(gql: GraphQLClient) -> None:
    parts = [
        {"type": "reasoning", "text": "thinking it over"},
        {"type": "text", "text": "First  part."},
        {"type": "tool_call", "callId": "a", "toolName": "search", "arguments": {}},
        {"type": "text", "text": "\nSecond\tpart."},
        {"type": "file", "uri": "s3://bucket/a.pdf"},
    ]
    assert await preview_of(gql, content="", parts=parts) == "First part. Second part."
    # Blank content counts as none: the parts are the text.
    assert await preview_of(gql, content=" \n ", parts=parts) == "First part. Second part."
    # Content, when there is some, is the text: the parts repeat or annotate it.
    assert await preview_of(gql, content="The answer", parts=parts) == "The answer"


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({"content": ""}, id="empty"),
        pytest.param({"content": " \n\t "}, id="blank"),
        pytest.param(
            {
                "content": "",
                "role": "ASSISTANT",
                "senderId": "agent-1",
                "senderType": "AGENT",
                "toolCalls": [{"callId": "a", "toolName": "search"}],
                "parts": [{"type": "tool_call", "callId": "a", "toolName": "search"}],
            },
            id="tool-call-only",
        ),
    ],
)
async def test_a_message_without_text_has_no_preview(
    gql: GraphQLClient, message: dict[str, Any]
) -> None:
    assert await preview_of(gql, **message) is None


@pytest.mark.parametrize("length", [0, -1, 1001, 2**31 - 1])
async def test_preview_lengths_out_of_range_are_refused(gql: GraphQLClient, length: int) -> None:
    c = (await factories.conversation(gql))["id"]
    await factories.message(gql, c, content="hello")
    error = await gql.error(PREVIEW, {"c": c, "length": length})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "`length` must be between 1 and 1000" in error["message"]


async def test_previews_in_the_conversation_list(gql: GraphQLClient) -> None:
    for n in range(3):
        c = (await factories.conversation(gql, title=f"c{n}"))["id"]
        await factories.message(gql, c, content="older")
        await factories.message(gql, c, content=f"latest   of\nc{n} " + "x" * 100)
    await factories.conversation(gql, title="silent")
    document = """{ conversations(orderBy: {field: CREATED_AT, direction: ASC}) {
      nodes { title lastMessage { preview(length: 20) } } } }"""
    nodes = (await gql.data(document))["conversations"]["nodes"]
    assert [(n["title"], n["lastMessage"]) for n in nodes] == [
        ("c0", {"preview": "latest of c0 xxxxxx…"}),
        ("c1", {"preview": "latest of c1 xxxxxx…"}),
        ("c2", {"preview": "latest of c2 xxxxxx…"}),
        ("silent", None),
    ]


# --- The compiled path --------------------------------------------------------------------

COMPILED = """query($c: ID!, $order: MessageOrder) {
  conversation(id: $c) {
    id
    messages(orderBy: $order, first: 4) { totalCount nodes { id seq content } }
    everything: messages(allBranches: true, orderBy: $order) { totalCount nodes { id seq } }
    lastMessage { id content }
  }
}"""
WITH_PREVIEW = """query($c: ID!) {
  conversation(id: $c) {
    messages(orderBy: {direction: DESC}, first: 4) { nodes { id preview(length: 5) } }
    lastMessage { preview }
  }
}"""
LIST_WITH_PREVIEW = "{ conversations(first: 5) { nodes { id lastMessage { preview } } } }"


async def test_the_compiled_path_lists_newest_first_and_leaves_previews_to_the_resolvers(
    http: httpx.AsyncClient, gql: GraphQLClient, spy: compiled_path.Spy
) -> None:
    conversation = await branched(gql)
    variables: dict[str, Any] = {"c": conversation.id}
    for order in (NEWEST_FIRST, OLDEST_FIRST, None):
        body = await compiled_path.same(http, spy, COMPILED, {**variables, "order": order})
        found = httpx.Response(200, text=body).json()["data"]["conversation"]
        latest, everything = conversation.latest, conversation.everything
        if order == NEWEST_FIRST:
            latest, everything = latest[::-1], everything[::-1]
        assert [node["id"] for node in found["messages"]["nodes"]] == latest[:4]
        assert [node["id"] for node in found["everything"]["nodes"]] == everything
    # `preview` has an argument: the compiled path steps aside, the resolvers answer.
    body = await compiled_path.same(http, spy, WITH_PREVIEW, variables, compiles=False)
    found = httpx.Response(200, text=body).json()["data"]["conversation"]
    assert found["messages"]["nodes"][0] == {"id": conversation.side[-1], "preview": "s2"}
    assert found["lastMessage"] == {"preview": "s2"}
    await compiled_path.same(http, spy, LIST_WITH_PREVIEW, compiles=False)


# --- Access -------------------------------------------------------------------------------


async def test_nobody_else_reads_messages_or_previews_newest_first(
    secured_http: httpx.AsyncClient,
) -> None:
    alice, mallory = as_user(secured_http, "alice"), as_user(secured_http, "mallory")
    theirs = (await factories.conversation(alice, owner={"participantId": "alice"}))["id"]
    secret = await factories.message(alice, theirs, senderId="alice", content="the secret")
    mine = (await factories.conversation(mallory, owner={"participantId": "mallory"}))["id"]
    await factories.message(mallory, mine, senderId="mallory", content="mine")
    page = {"order": NEWEST_FIRST, "first": 10}
    assert await mallory.execute(PAGE, {"c": theirs, **page}) == {"data": {"conversation": None}}
    # Another's message as the branch of one's own conversation: as if it did not exist.
    error = await mallory.error(PAGE, {"c": mine, "branch": secret["id"], **page})
    assert error["extensions"]["code"] == "NOT_FOUND"
    previews = await mallory.data(LIST_WITH_PREVIEW)
    assert previews["conversations"]["nodes"] == [{"id": mine, "lastMessage": {"preview": "mine"}}]
    # Alice reads her own.
    own = await alice.data(PAGE, {"c": theirs, **page})
    assert [n["id"] for n in own["conversation"]["messages"]["nodes"]] == [secret["id"]]


# --- Statements ---------------------------------------------------------------------------

LISTED = """query($order: MessageOrder) {
  conversations(first: 50) {
    nodes {
      id
      lastMessage { preview(length: 30) }
      messages(orderBy: $order, first: 3) { totalCount nodes { id preview } }
      everything: messages(allBranches: true, orderBy: $order, last: 2) { nodes { id } }
    }
  }
}"""


async def statements_of(gql: GraphQLClient, sql: StatementCounter, order: Any) -> int:
    sql.reset()
    await gql.data(LISTED, {"order": order})
    return sql.count


async def test_statements_do_not_grow_with_the_list_or_the_conversations(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    async def fill(conversations: int, messages: int) -> None:
        for _ in range(conversations):
            c = (await factories.conversation(gql))["id"]
            for n in range(messages):
                await factories.message(gql, c, content=f"message {n}")

    await fill(2, 3)
    few = {await statements_of(gql, sql, order) for order in (NEWEST_FIRST, OLDEST_FIRST)}
    await fill(10, 12)
    many = {await statements_of(gql, sql, order) for order in (NEWEST_FIRST, OLDEST_FIRST)}
    assert few == many
    assert len(few) == 1
