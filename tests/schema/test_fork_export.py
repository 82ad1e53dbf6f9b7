"""forkConversation, conversationExport / importConversation, conversationMarkdown, and
`python main.py export`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
from starlette.applications import Starlette

from config import Settings
from resolvers.ids import from_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user
from tests.lifecycle_graph import rich_conversation, table_rows

FORK = """mutation($m: ID!, $t: String) { forkConversation(fromMessageId: $m, title: $t) {
  id title messageCount totalTokens forkedFrom { id } forkedFromMessage { id }
  participants { participantId role }
  messages { nodes { id content parent { id } toolCalls { toolName arguments span { id } } } }
} }"""
SOURCE = """query($c: ID!) { conversation(id: $c) {
  title messageCount totalTokens cost updatedAt lastEventCursor
  messages(allBranches: true) { nodes { id content parent { id }
    toolCalls { id toolName } } } } }"""
EXPORT = "query($c: ID!) { conversationExport(id: $c) }"
MARKDOWN = "query($c: ID!) { conversationMarkdown(id: $c) }"
IMPORT = """mutation($d: JSON!, $r: Boolean!) { importConversation(document: $d, remapIds: $r) {
  id title messageCount } }"""
DELETE = "mutation($id: ID!) { deleteConversation(id: $id) { deletedId } }"


async def test_a_fork_copies_the_branch_and_is_independent_of_its_source(
    gql: GraphQLClient,
) -> None:
    graph = await rich_conversation(gql)
    conv = graph["conversation"]
    first, second, _edited, third = graph["messages"]
    before = await gql.data(SOURCE, {"c": conv})
    fork = (await gql.data(FORK, {"m": third, "t": "what if"}))["forkConversation"]
    assert fork["title"] == "what if"
    assert fork["forkedFrom"] == {"id": conv}
    assert fork["forkedFromMessage"] == {"id": third}
    copies = fork["messages"]["nodes"]
    assert [m["content"] for m in copies] == ["first", "second", "third"]
    assert not {m["id"] for m in copies} & {first, second, third}
    assert [m["parent"] for m in copies] == [None, {"id": copies[0]["id"]}, {"id": copies[1]["id"]}]
    # The tool call came along; the span it may have run in stays with the source.
    assert copies[1]["toolCalls"] == [{"toolName": "search", "arguments": {"q": "x"}, "span": None}]
    assert (fork["messageCount"], fork["totalTokens"]) == (3, 8)
    assert {p["participantId"] for p in fork["participants"]} == {"user-1", "agent-1"}
    # Writing to the fork leaves the source as it was.
    await factories.message(gql, fork["id"], content="another way")
    await gql.data(
        "mutation($id: ID!) { deleteMessage(id: $id) { deletedIds } }", {"id": copies[1]["id"]}
    )
    assert await gql.data(SOURCE, {"c": conv}) == before
    # Deleting the source leaves the fork, which no longer finds where it came from.
    await gql.data(DELETE, {"id": conv})
    after = await gql.data(
        "query($c: ID!) { conversation(id: $c) { messageCount forkedFrom { id } } }",
        {"c": fork["id"]},
    )
    assert after["conversation"] == {"messageCount": 1, "forkedFrom": None}


async def test_only_who_may_write_a_conversation_forks_it(
    secured_http: httpx.AsyncClient,
) -> None:
    ada = as_user(secured_http, "ada")
    conv = (await factories.conversation(ada, owner={"participantId": "ada"}))["id"]
    message = (await factories.message(ada, conv, senderId="ada"))["id"]
    assert await as_user(secured_http, "bob").error_code(FORK, {"m": message}) == "NOT_FOUND"
    forked = (await ada.data(FORK, {"m": message}))["forkConversation"]
    assert forked["messageCount"] == 1


def without_event_log_position(document: dict[str, Any]) -> dict[str, Any]:
    """The document but the count of its conversation's events (an import starts anew)."""
    copy = json.loads(json.dumps(document))
    copy["tables"]["conversations"][0].pop("last_event_seq")
    return copy


async def test_export_then_import_gives_back_the_same_subgraph(
    gql: GraphQLClient, app: Starlette
) -> None:
    graph = await rich_conversation(gql)
    conv = graph["conversation"]
    document = (await gql.data(EXPORT, {"c": conv}))["conversationExport"]
    tables = document["tables"]
    assert {name for name, rows in tables.items() if rows} >= {
        "conversations",
        "participants",
        "messages",
        "tool_calls",
        "plans",
        "plan_steps",
        "step_dependencies",
        "traces",
        "spans",
        "span_component_versions",
        "component_versions",
        "components",
        "scores",
        "agent_sessions",
    }
    assert "events" not in tables
    await gql.data(DELETE, {"id": conv})
    imported = (await gql.data(IMPORT, {"d": document, "r": False}))["importConversation"]
    assert imported["id"] == conv
    again = (await gql.data(EXPORT, {"c": conv}))["conversationExport"]
    assert without_event_log_position(again) == without_event_log_position(document)
    # Written once: the component version is shared, not copied.
    assert len((await table_rows(app))["component_versions"]) == 1
    assert await gql.error_code(IMPORT, {"d": document, "r": False}) == "CONFLICT"


def shape(document: dict[str, Any]) -> Any:
    """What a copy with other ids must share with its original."""
    tables = document["tables"]
    seq_of = {m["id"]: m["seq"] for m in tables["messages"]}
    name_of = {s["id"]: s["name"] for s in tables["spans"]}
    position_of = {s["id"]: s["position"] for s in tables["plan_steps"]}
    return {
        "messages": sorted(
            (m["seq"], m["content"], seq_of.get(m["parent_message_id"])) for m in tables["messages"]
        ),
        "tool_calls": sorted((seq_of[c["message_id"]], c["call_id"]) for c in tables["tool_calls"]),
        "spans": sorted((s["name"], name_of.get(s["parent_span_id"])) for s in tables["spans"]),
        "links": [name_of[link["span_id"]] for link in tables["span_component_versions"]],
        "dependencies": sorted(
            (position_of[d["step_id"]], position_of[d["depends_on_step_id"]])
            for d in tables["step_dependencies"]
        ),
        "scores": [(s["name"], seq_of[s["message_id"]]) for s in tables["scores"]],
        "counts": {name: len(rows) for name, rows in tables.items()},
    }


async def test_an_import_with_new_ids_lives_next_to_its_original(gql: GraphQLClient) -> None:
    graph = await rich_conversation(gql, "original")
    document = (await gql.data(EXPORT, {"c": graph["conversation"]}))["conversationExport"]
    copy = (await gql.data(IMPORT, {"d": document, "r": True}))["importConversation"]
    assert copy["id"] != graph["conversation"]
    assert (copy["title"], copy["messageCount"]) == ("original", 5)
    exported = (await gql.data(EXPORT, {"c": copy["id"]}))["conversationExport"]
    assert shape(exported) == shape(document)
    original_ids = {m["id"] for m in document["tables"]["messages"]}
    assert not original_ids & {m["id"] for m in exported["tables"]["messages"]}


SCORE = "mutation($i: AddScoreInput!) { addScore(input: $i) { id } }"
SPAN_SCORES = """query($c: ID!) { conversation(id: $c) { traces { nodes { spans { nodes {
  name scores { name value } } } } } } }"""


async def test_scores_of_spans_and_traces_come_back_with_them(gql: GraphQLClient) -> None:
    """Scores hang off the conversation, but point at spans and traces, which hang off
    the traces: an import writes every row after the rows it points at."""
    conv = (await factories.conversation(gql))["id"]
    trace = (await factories.trace(gql, conv))["id"]
    span = await factories.span(gql, trace, name="judged")
    await factories.end_span(gql, span["id"])
    for target, name in ((span["id"], "faithful"), (trace, "solved")):
        score = {"targetId": target, "name": name, "kind": "NUMERIC", "value": 0.5}
        await gql.data(SCORE, {"i": score})
    before = (await gql.data(SPAN_SCORES, {"c": conv}))["conversation"]
    document = (await gql.data(EXPORT, {"c": conv}))["conversationExport"]
    copy = (await gql.data(IMPORT, {"d": document, "r": True}))["importConversation"]
    assert (await gql.data(SPAN_SCORES, {"c": copy["id"]}))["conversation"] == before
    await gql.data(DELETE, {"id": conv})
    await gql.data(IMPORT, {"d": document, "r": False})
    assert (await gql.data(SPAN_SCORES, {"c": conv}))["conversation"] == before


async def test_a_document_cannot_reach_outside_itself(gql: GraphQLClient, app: Starlette) -> None:
    other = (await factories.conversation(gql))["id"]
    other_message = (await factories.message(gql, other))["id"]
    graph = await rich_conversation(gql)
    document = (await gql.data(EXPORT, {"c": graph["conversation"]}))["conversationExport"]
    await gql.data(DELETE, {"id": graph["conversation"]})
    before = await table_rows(app)
    other_raw = (await gql.data(EXPORT, {"c": other}))["conversationExport"]["tables"]
    stolen = json.loads(json.dumps(document))
    stolen["tables"]["messages"][1]["parent_message_id"] = other_raw["messages"][0]["id"]
    error = await gql.error(IMPORT, {"d": stolen, "r": False})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "tables.messages[1].parent_message_id points outside the document" in error["message"]
    foreign_span = json.loads(json.dumps(document))
    foreign_span["tables"]["messages"][0]["span_id"] = str(uuid.uuid4())
    error = await gql.error(IMPORT, {"d": foreign_span, "r": False})
    assert "tables.messages[0].span_id points outside the document" in error["message"]
    broken = json.loads(json.dumps(document))
    broken["tables"]["messages"][0]["role"] = "ROBOT"
    error = await gql.error(IMPORT, {"d": broken, "r": False})
    assert error["message"].startswith("tables.messages[0].role:")
    for bad in ({}, {"format": "threadline.conversation", "version": 99}, [1]):
        assert await gql.error_code(IMPORT, {"d": bad, "r": False}) == "BAD_USER_INPUT"
    assert await table_rows(app) == before
    assert other_message


async def test_an_import_counts_its_usage_from_its_rows(gql: GraphQLClient) -> None:
    """Totals a document states are not trusted: the rows make them, as for any write."""
    graph = await rich_conversation(gql)
    document = (await gql.data(EXPORT, {"c": graph["conversation"]}))["conversationExport"]
    tampered = json.loads(json.dumps(document))
    tampered["tables"]["conversations"][0].update(total_tokens=123456, cost="77")
    tampered["tables"]["traces"][0]["total_tokens"] = 999
    copy = (await gql.data(IMPORT, {"d": tampered, "r": True}))["importConversation"]
    totals = """query($c: ID!) {
      conversation(id: $c) { totalTokens cost traces { nodes { totalTokens } } }
      usage(filter: {conversationIds: [$c]}) { totalTokens cost } }"""
    original = await gql.data(totals, {"c": graph["conversation"]})
    imported = await gql.data(totals, {"c": copy["id"]})
    assert imported == original
    conversation = imported["conversation"]
    assert {k: conversation[k] for k in ("totalTokens", "cost")} == imported["usage"][0]


async def test_an_import_names_tools_as_the_api_does(gql: GraphQLClient) -> None:
    """A document cannot put a tool on a span that is no TOOL span, nor leave a TOOL
    span without one: `usage` by TOOL counts what the API would have written."""
    graph = await rich_conversation(gql)
    await factories.span(gql, graph["trace"], name="search_web", kind="TOOL")
    document = (await gql.data(EXPORT, {"c": graph["conversation"]}))["conversationExport"]
    tampered = json.loads(json.dumps(document))
    for span in tampered["tables"]["spans"]:
        span["tool_name"] = None if span["kind"] == "TOOL" else "delete_everything"
    copy = (await gql.data(IMPORT, {"d": tampered, "r": True}))["importConversation"]
    read = """query($c: ID!) { conversation(id: $c) { traces { nodes {
      spans { nodes { kind toolName } } } } }
      usage(filter: {conversationIds: [$c]}, groupBy: [SPAN_KIND, TOOL]) { spanKind tool } }"""
    found = await gql.data(read, {"c": copy["id"]})
    spans = [s for t in found["conversation"]["traces"]["nodes"] for s in t["spans"]["nodes"]]
    assert sorted((s["kind"], s["toolName"]) for s in spans) == [
        ("OTHER", None),
        ("OTHER", None),
        ("TOOL", "search_web"),
    ]
    # LLM: the thread's messages that carry usage of their own.
    assert [(g["spanKind"], g["tool"]) for g in found["usage"]] == [
        ("LLM", None),
        ("OTHER", None),
        ("TOOL", "search_web"),
    ]


async def test_an_import_belongs_to_its_owner(secured_http: httpx.AsyncClient) -> None:
    ada = as_user(secured_http, "ada")
    conv = (await factories.conversation(ada, owner={"participantId": "ada"}))["id"]
    document = (await ada.data(EXPORT, {"c": conv}))["conversationExport"]
    bob = as_user(secured_http, "bob")
    assert (await bob.data(EXPORT, {"c": conv}))["conversationExport"] is None
    assert await bob.error_code(IMPORT, {"d": document, "r": True}) == "FORBIDDEN"


async def test_markdown_is_a_readable_transcript(gql: GraphQLClient) -> None:
    graph = await rich_conversation(gql, "Battery sources")
    text = (await gql.data(MARKDOWN, {"c": graph["conversation"]}))["conversationMarkdown"]
    assert text.startswith("# Battery sources\n")
    # The latest branch, in order: the edit is on another branch.
    assert text.index("first") < text.index("second") < text.index("third")
    assert "second, edited" not in text
    assert "**Tool call** `search` (PENDING)" in text
    assert '"q": "x"' in text
    assert "## Plan: a plan (DRAFT)" in text
    assert "2. [ ] step 1 (PENDING)" in text
    assert "- run: RUNNING" in text


async def test_the_command_line_exports_a_conversation(
    gql: GraphQLClient, settings: Settings
) -> None:
    conv = (await factories.conversation(gql, title="on the shell"))["id"]
    await factories.message(gql, conv, content="hello shell")
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    for fmt, expected in (("markdown", "# on the shell"), ("json", '"threadline.conversation"')):
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "main.py", "export", conv, "--format", fmt],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert expected in done.stdout
        assert "hello shell" in done.stdout


KINDS = """query($c: ID!) { conversation(id: $c) {
  messages { nodes { id content turnId messageType confidence
    references { kind node { id ... on Span { name } ... on Message { content } } document } } }
} }"""


async def turns_and_references(gql: GraphQLClient) -> str:
    """A conversation of two turns whose answer relies on a tool's result, a span and a
    document, and whose last message joins the first turn."""
    conv = (await factories.conversation(gql))["id"]
    question = (await factories.message(gql, conv, content="weather?"))["id"]
    trace = (await factories.trace(gql, conv))["id"]
    span = (await factories.span(gql, trace, name="lookup"))["id"]
    agent = {"senderId": "agent-1", "senderType": "AGENT"}
    await factories.message(gql, conv, content="looking", role="ASSISTANT", **agent)
    result = await factories.message(gql, conv, content="sunny", role="TOOL", **agent)
    references = [
        {"messageId": result["id"]},
        {"spanId": span},
        {"document": "https://weather.example.com/paris"},
    ]
    await factories.message(
        gql,
        conv,
        content="Sunny.",
        role="ASSISTANT",
        confidence=0.8,
        references=references,
        **agent,
    )
    await factories.message(gql, conv, content="thanks")
    await factories.message(gql, conv, content="also", role="ASSISTANT", turnId=question, **agent)
    return conv


def label(node: dict[str, Any] | None) -> str | None:
    return None if node is None else node.get("name", node.get("content"))


def kinds(read: dict[str, Any]) -> list[Any]:
    """The messages' turns, types and references, by content rather than by id."""
    nodes = read["conversation"]["messages"]["nodes"]
    content = {m["id"]: m["content"] for m in nodes}
    return [
        (
            m["content"],
            content[m["turnId"]],
            m["messageType"],
            m["confidence"],
            [(r["kind"], label(r["node"]), r["document"]) for r in m["references"]],
        )
        for m in nodes
    ]


async def test_turns_and_references_travel_with_their_messages(
    gql: GraphQLClient, app: Starlette
) -> None:
    conv = await turns_and_references(gql)
    before = await gql.data(KINDS, {"c": conv})
    assert kinds(before) == [
        ("weather?", "weather?", "TEXT", None, []),
        ("looking", "weather?", "ANSWER", None, []),
        ("sunny", "weather?", "TOOL_RESULT", None, []),
        (
            "Sunny.",
            "weather?",
            "ANSWER",
            0.8,
            [
                ("MESSAGE", "sunny", None),
                ("SPAN", "lookup", None),
                ("DOCUMENT", None, "https://weather.example.com/paris"),
            ],
        ),
        ("thanks", "thanks", "TEXT", None, []),
        ("also", "weather?", "ANSWER", None, []),
    ]
    document = (await gql.data(EXPORT, {"c": conv}))["conversationExport"]
    assert len(document["tables"]["message_references"]) == 3
    copy = (await gql.data(IMPORT, {"d": document, "r": True}))["importConversation"]["id"]
    copied = await gql.data(KINDS, {"c": copy})
    # The copy's turns and references point at its own messages and spans.
    assert kinds(copied) == kinds(before)
    copied_ids = {m["id"] for m in copied["conversation"]["messages"]["nodes"]}
    original, answer = (read["conversation"]["messages"]["nodes"][3] for read in (before, copied))
    assert answer["references"][0]["node"]["id"] in copied_ids
    spans = [m["references"][1]["node"]["id"] for m in (original, answer)]
    assert spans[0] != spans[1]
    assert {m["turnId"] for m in copied["conversation"]["messages"]["nodes"]} <= copied_ids
    # Deleted, the original takes its references with it; the copy keeps its own.
    await gql.data(DELETE, {"id": conv})
    assert len((await table_rows(app))["message_references"]) == 3
    await gql.data(IMPORT, {"d": document, "r": False})
    assert await gql.data(KINDS, {"c": conv}) == before
    for gone in (conv, copy):
        await gql.data(DELETE, {"id": gone})
    assert (await table_rows(app))["message_references"] == []


async def test_citations_of_rows_outside_the_document_are_cleared(gql: GraphQLClient) -> None:
    """A cited message or span, or a turn's opener, may be gone from the source (deleted,
    swept): pointing outside the document, such a reference comes in empty, never
    pointing at another conversation's row."""
    other = (await factories.conversation(gql))["id"]
    foreign = (await factories.message(gql, other, content="not yours"))["id"]
    foreign_raw = str(from_global_id(foreign)[1])
    conv = await turns_and_references(gql)
    document = (await gql.data(EXPORT, {"c": conv}))["conversationExport"]
    tables = document["tables"]
    tables["message_references"][0]["target_message_id"] = foreign_raw
    tables["message_references"][1]["target_span_id"] = str(uuid.uuid4())
    [also] = [m for m in tables["messages"] if m["content"] == "also"]
    also["turn_message_id"] = foreign_raw
    for remap in (True, False):
        if not remap:
            await gql.data(DELETE, {"id": conv})
        copy = (await gql.data(IMPORT, {"d": document, "r": remap}))["importConversation"]["id"]
        read = kinds(await gql.data(KINDS, {"c": copy}))
        assert read[3][4] == [
            ("MESSAGE", None, None),
            ("SPAN", None, None),
            ("DOCUMENT", None, "https://weather.example.com/paris"),
        ]
        assert read[5][:2] == ("also", "also")  # a turn of its own


async def test_a_fork_keeps_turns_and_references_within_itself(gql: GraphQLClient) -> None:
    conv = await turns_and_references(gql)
    before = await gql.data(KINDS, {"c": conv})
    nodes = before["conversation"]["messages"]["nodes"]
    fork = (await gql.data(FORK, {"m": nodes[-1]["id"], "t": None}))["forkConversation"]["id"]
    forked = await gql.data(KINDS, {"c": fork})
    # The same turns and citations, but of the fork's own messages; the span stays with
    # the source, so its citation has no target in the fork.
    expected = [
        (*row[:4], [(kind, None if kind == "SPAN" else name, doc) for kind, name, doc in row[4]])
        for row in kinds(before)
    ]
    assert kinds(forked) == expected
    own = {m["id"] for m in forked["conversation"]["messages"]["nodes"]}
    assert {m["turnId"] for m in forked["conversation"]["messages"]["nodes"]} <= own
    answer = forked["conversation"]["messages"]["nodes"][3]
    assert answer["references"][0]["node"]["id"] in own
