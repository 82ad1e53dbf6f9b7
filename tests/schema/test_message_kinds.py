"""A message's turn, type, confidence and references (issue 19 section 1), through /graphql:
the defaults each role gets, the values a sender gives, the turn a message joins, and
references read back as nodes. Bad input writes nothing and announces nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from starlette.applications import Starlette

from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user
from tests.schema import test_compiled_path
from tests.schema.test_agent_runs import SESSION, run
from tests.schema.test_compiled_path import Spy
from tests.ws_client import GraphQLWebSocket

KINDS = """
fragment Kinds on Message {
  id role messageType confidence turnId conversation { id }
  references {
    kind document title
    node { __typename ... on Message { id content } ... on Span { id name } }
  }
}"""
SEND = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { ...Kinds } }" + KINDS
EDIT = "mutation($input: EditMessageInput!) { editMessage(input: $input) { ...Kinds } }" + KINDS
ANSWER = "mutation($input: AnswerAgentInput!) { answerAgent(input: $input) { ...Kinds } }" + KINDS
NODE = "query($id: ID!) { node(id: $id) { ...Kinds } }" + KINDS
# What a rejected write must leave as it was.
STATE = """query($c: ID!) { conversation(id: $c) {
  messageCount lastEventCursor messages(allBranches: true) { nodes { id } } } }"""
EVENTS = (
    """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    kind ... on MessageEvent { message { ...Kinds } }
  }
}"""
    + KINDS
)


async def send(gql: GraphQLClient, conversation_id: str, **input: Any) -> Any:
    input.setdefault("senderId", "user-1")
    input.setdefault("content", "hello")
    payload = {"conversationId": conversation_id, **input}
    return (await gql.data(SEND, {"input": payload}))["sendMessage"]


async def read(gql: GraphQLClient, message_id: str) -> Any:
    return (await gql.data(NODE, {"id": message_id}))["node"]


async def state(gql: GraphQLClient, conversation_id: str) -> Any:
    return (await gql.data(STATE, {"c": conversation_id}))["conversation"]


async def rejected(gql: GraphQLClient, conversation_id: str, **input: Any) -> dict[str, Any]:
    """The error of a sendMessage that must have written nothing, events included."""
    before = await state(gql, conversation_id)
    input.setdefault("senderId", "user-1")
    payload = {"conversationId": conversation_id, **input}
    error = await gql.error(SEND, {"input": payload})
    assert await state(gql, conversation_id) == before
    return error


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["id"] for m in messages]


TURNS = """query($c: ID!) { conversation(id: $c) {
  messages(allBranches: true) { nodes { id turnId } } } }"""


async def turn(gql: GraphQLClient, message: dict[str, Any]) -> list[str]:
    """The ids of the messages of `message`'s turn, in sequence order, every branch."""
    found = await gql.data(TURNS, {"c": message["conversation"]["id"]})
    nodes = found["conversation"]["messages"]["nodes"]
    return [m["id"] for m in nodes if m["turnId"] == message["turnId"]]


async def test_each_role_gets_its_type_and_a_prompt_opens_a_turn(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    agent = {"senderId": "agent-1", "senderType": "AGENT"}
    prompt = await send(gql, c, content="weather in Paris?")
    call = [{"callId": "c1", "toolName": "weather"}]
    asks = await send(gql, c, role="ASSISTANT", toolCalls=call, **agent)
    result = await send(gql, c, role="TOOL", content="18C", **agent)
    answer = await send(gql, c, role="ASSISTANT", content="18C and sunny", **agent)
    follow_up = await send(gql, c, content="and tomorrow?")
    failed = await send(gql, c, role="ASSISTANT", status="ERROR", **agent)
    kinds = [m["messageType"] for m in (prompt, asks, result, answer, follow_up, failed)]
    assert kinds == ["TEXT", "TOOL_CALL", "TOOL_RESULT", "ANSWER", "TEXT", "ERROR"]
    assert {m["confidence"] for m in (prompt, asks, failed)} == {None}
    assert {m["turnId"] for m in (prompt, asks, result, answer)} == {prompt["id"]}
    assert {m["turnId"] for m in (follow_up, failed)} == {follow_up["id"]}
    # Read back, each message keeps its turn.
    first_turn = ids([prompt, asks, result, answer])
    for message_id in first_turn:
        assert await turn(gql, await read(gql, message_id)) == first_turn
    assert await turn(gql, await read(gql, failed["id"])) == ids([follow_up, failed])


async def test_a_sender_says_what_its_message_is_and_which_turn_it_joins(
    gql: GraphQLClient,
) -> None:
    c = (await factories.conversation(gql))["id"]
    prompt = await send(gql, c)
    thought = await send(
        gql, c, role="ASSISTANT", messageType="THOUGHT", confidence=0.25, senderId="a"
    )
    assert (thought["messageType"], thought["confidence"]) == ("THOUGHT", 0.25)
    # A new root joins the turn it names, not a turn of its own ...
    joined = await send(gql, c, role="ASSISTANT", parentMessageId=None, turnId=thought["id"])
    assert joined["turnId"] == prompt["id"]
    assert await turn(gql, joined) == ids([prompt, thought, joined])
    # ... even a user's, which would open one; without it, a root that answers opens its own.
    user_joins = await send(gql, c, turnId=prompt["id"], confidence=1)
    assert (user_joins["turnId"], user_joins["confidence"]) == (prompt["id"], 1.0)
    alone = await send(gql, c, role="ASSISTANT", parentMessageId=None, senderId="a")
    assert (alone["turnId"], await turn(gql, alone)) == (alone["id"], [alone["id"]])
    # An explicit parent's turn is joined as the latest message's would be.
    reply = await send(gql, c, role="ASSISTANT", parentMessageId=thought["id"], senderId="a")
    assert reply["turnId"] == prompt["id"]


async def test_an_edited_prompt_opens_a_turn_and_an_edited_answer_keeps_its_own(
    gql: GraphQLClient,
) -> None:
    c = (await factories.conversation(gql))["id"]
    prompt = await send(gql, c)
    answer = await send(gql, c, role="ASSISTANT", senderId="agent-1", senderType="AGENT")
    edit = {"messageId": answer["id"], "content": "better", "messageType": "PLAN"}
    new_answer = (await gql.data(EDIT, {"input": {**edit, "confidence": 0.5}}))["editMessage"]
    assert (new_answer["turnId"], new_answer["messageType"]) == (prompt["id"], "PLAN")
    assert new_answer["confidence"] == 0.5
    # Both answers, on their two branches, are of the prompt's turn.
    assert await turn(gql, new_answer) == ids([prompt, answer, new_answer])
    new_prompt = await gql.data(EDIT, {"input": {"messageId": prompt["id"], "content": "?"}})
    asked_again = new_prompt["editMessage"]
    assert asked_again["turnId"] == asked_again["id"]
    assert (asked_again["messageType"], await turn(gql, asked_again)) == (
        "TEXT",
        [asked_again["id"]],
    )
    # An edit is checked as a new message is: nothing is written.
    bad = {
        "messageId": answer["id"],
        "references": [{"messageId": to_global_id("Message", uuid.uuid4())}],
    }
    before = await state(gql, c)
    assert (await gql.error_code(EDIT, {"input": bad})) == "NOT_FOUND"
    assert await state(gql, c) == before


async def test_the_agents_question_and_the_users_answer_share_the_prompts_turn(
    gql: GraphQLClient,
) -> None:
    c = (await factories.conversation(gql))["id"]
    prompt = await send(gql, c, content="book a table")
    streaming = await send(
        gql, c, role="ASSISTANT", status="STREAMING", senderId="agent-1", senderType="AGENT"
    )
    await run(gql, "startAgentSession", SESSION, conversationId=c, profileName="agent-1")
    await run(gql, "askUser", conversationId=c, question="For how many?")
    reply = {"conversationId": c, "answer": "two", "senderId": "user-1"}
    answer = (await gql.data(ANSWER, {"input": reply}))["answerAgent"]
    question = await read(gql, (await turn(gql, answer))[2])
    assert (question["role"], question["messageType"]) == ("ASSISTANT", "QUESTION")
    # The user's answer does not open a turn: it is still the prompt being answered.
    assert (answer["role"], answer["messageType"], answer["turnId"]) == (
        "USER",
        "TEXT",
        prompt["id"],
    )
    assert await turn(gql, answer) == [prompt["id"], streaming["id"], question["id"], answer["id"]]


async def test_references_read_back_as_nodes_in_order(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    source = await send(gql, c, content="the source")
    aside = await send(gql, c, content="an aside", parentMessageId=None)
    trace = await factories.trace(gql, c)
    span = await factories.span(gql, trace["id"], name="search")
    references = [
        {"spanId": span["id"]},
        {"document": "https://example.com/menu", "title": "Menu"},
        {"messageId": source["id"], "title": "what they said"},
        {"messageId": aside["id"]},
    ]
    sent = await send(
        gql, c, role="ASSISTANT", senderId="a", parentMessageId=source["id"], references=references
    )
    expected: list[dict[str, Any]] = [
        {
            "kind": "SPAN",
            "document": None,
            "title": None,
            "node": {"__typename": "Span", **span, "name": "search"},
        },
        {"kind": "DOCUMENT", "document": "https://example.com/menu", "title": "Menu", "node": None},
        {
            "kind": "MESSAGE",
            "document": None,
            "title": "what they said",
            "node": {"__typename": "Message", "id": source["id"], "content": "the source"},
        },
        {
            "kind": "MESSAGE",
            "document": None,
            "title": None,
            "node": {"__typename": "Message", "id": aside["id"], "content": "an aside"},
        },
    ]
    assert sent["references"] == expected
    assert (await read(gql, sent["id"]))["references"] == expected
    # A target deleted leaves its reference, with no node: nobody reads a deleted message.
    # (Targets are of the message's own conversation: whoever reads it may read them.)
    await gql.data(
        "mutation($id: ID!) { deleteMessage(id: $id) { deletedIds } }", {"id": aside["id"]}
    )
    left = (await read(gql, sent["id"]))["references"]
    assert left == [*expected[:3], {**expected[3], "node": None}]


async def test_bad_values_are_refused_and_write_nothing(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    other = (await factories.conversation(gql))["id"]
    elsewhere = await send(gql, other)
    span_elsewhere = await factories.span(gql, (await factories.trace(gql, other))["id"])
    here = await send(gql, c)
    missing_message = to_global_id("Message", uuid.uuid4())
    doc = {"document": "d"}
    bad_input: list[dict[str, Any]] = [
        {"confidence": 1.5},
        {"confidence": -0.1},
        {"turnId": elsewhere["id"]},
        {"references": [{}]},
        {"references": [{"messageId": here["id"], "document": "d"}]},
        {"references": [{"document": "  "}]},
        {"references": [{"document": "d" * 2049}]},
        {"references": [{"document": "d", "title": "t" * 256}]},
        {"references": [doc] * 51},
        {"references": [{"spanId": here["id"]}]},  # a Message's id where a Span's goes
    ]
    for input in bad_input:
        assert (await rejected(gql, c, **input))["extensions"]["code"] == "BAD_USER_INPUT", input
    # Found only in the transaction: the message and its event were about to be written.
    error = await rejected(gql, c, references=[doc, {"messageId": elsewhere["id"]}])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "references[1]" in error["message"]
    error = await rejected(gql, c, references=[{"spanId": span_elsewhere["id"]}])
    assert "references[0]" in error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    for input in (
        {"turnId": missing_message},
        {"references": [doc, {"messageId": missing_message}]},
        {"references": [{"spanId": to_global_id("Span", uuid.uuid4())}]},
    ):
        assert (await rejected(gql, c, **input))["extensions"]["code"] == "NOT_FOUND", input
    # At the limits, all is well.
    sent = await send(
        gql, c, confidence=0, references=[{"document": "d" * 2048, "title": "t" * 255}] + [doc] * 49
    )
    assert (sent["confidence"], len(sent["references"])) == (0.0, 50)


async def test_the_created_event_carries_the_new_fields(
    gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    c = (await factories.conversation(gql))["id"]
    prompt = await send(gql, c)
    op = await ws.subscribe(EVENTS, {"c": c, "after": (await state(gql, c))["lastEventCursor"]})
    sent = await send(
        gql,
        c,
        role="ASSISTANT",
        senderId="a",
        confidence=0.75,
        references=[{"messageId": prompt["id"]}],
    )
    event = (await ws.next(op))["conversationEvents"]
    assert event == {"kind": "MESSAGE_CREATED", "message": sent}
    assert (sent["messageType"], sent["turnId"], sent["references"][0]["node"]["id"]) == (
        "ANSWER",
        prompt["id"],
        prompt["id"],
    )


async def test_a_stranger_learns_nothing_of_targets_she_cannot_see(
    secured_http: httpx.AsyncClient,
) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    c = (await factories.conversation(alice, owner={"participantId": "alice"}))["id"]
    hidden = await send(alice, c, senderId="alice")
    span = await factories.span(alice, (await factories.trace(alice, c))["id"])
    own = (await factories.conversation(carol, owner={"participantId": "carol"}))["id"]
    missing = to_global_id("Message", uuid.uuid4())
    for input, nothing in (
        ({"turnId": hidden["id"]}, {"turnId": missing}),
        ({"references": [{"messageId": hidden["id"]}]}, {"references": [{"messageId": missing}]}),
        (
            {"references": [{"spanId": span["id"]}]},
            {"references": [{"spanId": to_global_id("Span", uuid.uuid4())}]},
        ),
    ):
        # As for a target that does not exist: she learns neither that it does, nor where.
        seen = await rejected(carol, own, senderId="carol", **input)
        unseen = await rejected(carol, own, senderId="carol", **nothing)
        assert seen["extensions"]["code"] == unseen["extensions"]["code"] == "NOT_FOUND"
        assert seen["message"].split("'")[0] == unseen["message"].split("'")[0]


spy = test_compiled_path.spy  # the fixture, shared
PAGE = "query($c: ID!) { conversation(id: $c) { messages(allBranches: true) { nodes { %s } } } }"


async def test_the_compiled_path_reads_type_and_confidence_as_the_resolvers_do(
    gql: GraphQLClient, app: Starlette, spy: Spy
) -> None:
    c = (await factories.conversation(gql))["id"]
    sent = [
        await send(gql, c),
        await send(gql, c, role="ASSISTANT", senderId="a", confidence=0.3),
        await send(gql, c, role="TOOL", senderId="a", messageType="PLAN", confidence=1),
    ]
    spy.take()
    found = (await gql.data(PAGE % "id messageType confidence", {"c": c}))["conversation"]
    # Plain columns: on PostgreSQL the compiled path answers, with the resolvers' values.
    assert spy.take() == [app.state.engine.dialect.name == "postgresql"]
    assert found["messages"]["nodes"] == [
        {key: m[key] for key in ("id", "messageType", "confidence")} for m in sent
    ]


async def test_an_edit_stays_a_question_thought_or_plan_unless_its_sender_says(
    gql: GraphQLClient,
) -> None:
    c = (await factories.conversation(gql))["id"]
    await send(gql, c)
    agent = {"role": "ASSISTANT", "senderId": "agent-1", "senderType": "AGENT"}
    for kind in ("QUESTION", "THOUGHT", "PLAN"):
        said = await send(gql, c, messageType=kind, **agent)
        edit = {"messageId": said["id"], "content": "put better"}
        assert (await gql.data(EDIT, {"input": edit}))["editMessage"]["messageType"] == kind
        edit["messageType"] = "ANSWER"
        assert (await gql.data(EDIT, {"input": edit}))["editMessage"]["messageType"] == "ANSWER"
    # A type that follows from the content follows the edit's.
    answer = await send(gql, c, **agent)
    calls = {"messageId": answer["id"], "toolCalls": [{"callId": "c1", "toolName": "search"}]}
    assert (await gql.data(EDIT, {"input": calls}))["editMessage"]["messageType"] == "TOOL_CALL"


async def test_a_failed_runs_unfinished_answer_becomes_an_error(gql: GraphQLClient) -> None:
    c = (await factories.conversation(gql))["id"]
    await send(gql, c)
    streaming = await send(
        gql, c, role="ASSISTANT", status="STREAMING", senderId="agent-1", senderType="AGENT"
    )
    assert streaming["messageType"] == "ANSWER"
    await run(
        gql,
        "startAgentSession",
        SESSION,
        conversationId=c,
        profileName="agent-1",
        messageId=streaming["id"],
    )
    await run(gql, "failRun", conversationId=c, error="boom")
    assert (await read(gql, streaming["id"]))["messageType"] == "ERROR"
