"""Scores through /graphql: writing them, reading them per target, and their aggregates.

The fixture: a conversation with a user message m1 (no trace) and an answer m2 whose
trace T has spans s1 (using prompt v1) and s2 (its child, using v1 and v2). Scores:
  quality  NUMERIC      s1=4, s2=2, T=3, m1=5
  helpful  BOOLEAN      m2=1, conversation=0, s1=1
  tone     CATEGORICAL  m2=polite, s1=polite, m1=rude
By version, a score counts for each version its target's spans used, once: T's
quality counts for v1 once though both spans used v1; m1's scores for no version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user

ADD = """mutation($i: AddScoreInput!) {
  addScore(input: $i) { id name kind value label source authorId targetId target } }"""
UPDATE = """mutation($id: ID!, $i: UpdateScoreInput!) {
  updateScore(id: $id, input: $i) { id value label comment } }"""
DELETE = "mutation($id: ID!) { deleteScore(id: $id) { id } }"
SUMMARY = """
query($f: ScoreFilter, $v: Boolean! = false) {
  scoreSummary(filter: $f, byComponentVersion: $v) {
    name count valueCount average min max labels { label count }
    componentVersion { versionNumber }
  }
}"""
LINK = """mutation($s: ID!, $v: [ID!]!) {
  linkSpanComponentVersions(spanId: $s, componentVersionIds: $v) { id } }"""


@dataclass
class Fixture:
    conversation: str
    m1: str
    m2: str
    trace: str
    s1: str
    s2: str


async def build(gql: GraphQLClient, owner: str = "user-1") -> Fixture:
    # Each owner's own agent and prompt: agent ids and component keys have one owner.
    agent = {"participantId": f"{owner}-agent", "participantType": "AGENT"}
    conv = await factories.conversation(gql, owner={"participantId": owner}, participants=[agent])
    m1 = await factories.message(gql, conv["id"], senderId=owner)
    m2 = await factories.message(
        gql, conv["id"], senderId=f"{owner}-agent", senderType="AGENT", role="ASSISTANT"
    )
    trace = await factories.trace(gql, conv["id"], messageId=m2["id"])
    s1 = await factories.span(gql, trace["id"])
    s2 = await factories.span(gql, trace["id"], parentSpanId=s1["id"])
    v1 = await factories.component_version(gql, f"{owner}-prompt", {"text": "one"})
    v2 = await factories.component_version(gql, f"{owner}-prompt", {"text": "two"})
    await gql.data(LINK, {"s": s1["id"], "v": [v1["id"]]})
    await gql.data(LINK, {"s": s2["id"], "v": [v1["id"], v2["id"]]})
    return Fixture(conv["id"], m1["id"], m2["id"], trace["id"], s1["id"], s2["id"])


async def add(gql: GraphQLClient, target: str, name: str, kind: str, **values: Any) -> Any:
    return (await gql.data(ADD, {"i": {"targetId": target, "name": name, "kind": kind, **values}}))[
        "addScore"
    ]


async def score_everything(gql: GraphQLClient, f: Fixture) -> None:
    for target, value in ((f.s1, 4), (f.s2, 2), (f.trace, 3), (f.m1, 5)):
        await add(gql, target, "quality", "NUMERIC", value=value)
    for target, value in ((f.m2, 1), (f.conversation, 0), (f.s1, 1)):
        await add(gql, target, "helpful", "BOOLEAN", value=value, source="LLM", author="judge")
    for target, label in ((f.m2, "polite"), (f.s1, "polite"), (f.m1, "rude")):
        await add(gql, target, "tone", "CATEGORICAL", label=label)


def summary(
    name: str, count: int, values: list[float], labels: Any = (), version: Any = None
) -> Any:
    return {
        "name": name,
        "count": count,
        "valueCount": len(values),
        "average": pytest.approx(sum(values) / len(values)) if values else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "labels": [{"label": label, "count": n} for label, n in labels],
        "componentVersion": None if version is None else {"versionNumber": version},
    }


async def test_summary_by_name(gql: GraphQLClient) -> None:
    await score_everything(gql, await build(gql))
    found = (await gql.data(SUMMARY))["scoreSummary"]
    assert found == [
        summary("helpful", 3, [1, 0, 1]),
        summary("quality", 4, [4, 2, 3, 5]),
        summary("tone", 3, [], [("polite", 2), ("rude", 1)]),
    ]


async def test_summary_by_component_version(gql: GraphQLClient) -> None:
    await score_everything(gql, await build(gql))
    found = (await gql.data(SUMMARY, {"v": True}))["scoreSummary"]
    assert found == [
        summary("helpful", 3, [1, 0, 1], version=1),  # m2 (via T), conversation, s1
        summary("helpful", 2, [1, 0], version=2),  # m2 (via T), conversation
        summary("quality", 3, [4, 2, 3], version=1),  # s1, s2, T (once)
        summary("quality", 2, [2, 3], version=2),  # s2, T
        summary("tone", 2, [], [("polite", 2)], version=1),  # m2, s1
        summary("tone", 1, [], [("polite", 1)], version=2),  # m2
    ]


async def test_summary_filters(gql: GraphQLClient) -> None:
    await score_everything(gql, await build(gql))
    spans_only = {"targets": ["SPAN"], "names": ["quality", "helpful"]}
    assert (await gql.data(SUMMARY, {"f": spans_only}))["scoreSummary"] == [
        summary("helpful", 1, [1]),
        summary("quality", 2, [4, 2]),
    ]
    by_llm = (await gql.data(SUMMARY, {"f": {"sources": ["LLM"]}}))["scoreSummary"]
    assert [s["name"] for s in by_llm] == ["helpful"]
    assert (await gql.data(SUMMARY, {"f": {"names": ["nothing"]}}))["scoreSummary"] == []


async def test_scores_on_each_target_and_update_and_delete(gql: GraphQLClient) -> None:
    f = await build(gql)
    await score_everything(gql, f)
    query = """query($c: ID!, $m: ID!, $t: ID!, $s: ID!) {
      conversation(id: $c) { scores { name value } }
      message(id: $m) { scores { name value label } }
      trace(id: $t) { scores { name value } spans { nodes { scores { name } } } }
      span(id: $s) { scores { name value label } }
    }"""
    variables = {"c": f.conversation, "m": f.m2, "t": f.trace, "s": f.s1}
    found = await gql.data(query, variables)
    assert found["conversation"]["scores"] == [{"name": "helpful", "value": 0}]
    assert found["message"]["scores"] == [
        {"name": "helpful", "value": 1, "label": None},
        {"name": "tone", "value": None, "label": "polite"},
    ]
    assert found["trace"]["scores"] == [{"name": "quality", "value": 3}]
    assert [[s["name"] for s in n["scores"]] for n in found["trace"]["spans"]["nodes"]] == [
        ["quality", "helpful", "tone"],
        ["quality"],
    ]
    first = (await gql.data(query, variables))["span"]["scores"][0]
    assert first == {"name": "quality", "value": 4, "label": None}

    score = await add(gql, f.s2, "quality", "NUMERIC", value=1, comment="meh")
    assert (score["authorId"], score["source"]) == ("dev", "HUMAN")
    assert (score["target"], score["targetId"]) == ("SPAN", f.s2)
    updated = await gql.data(UPDATE, {"id": score["id"], "i": {"value": 9, "comment": None}})
    assert updated["updateScore"] == {"id": score["id"], "value": 9, "label": None, "comment": None}
    after = (await gql.data(SUMMARY, {"f": {"names": ["quality"]}}))["scoreSummary"]
    assert after == [summary("quality", 5, [4, 2, 3, 5, 9])]
    await gql.data(DELETE, {"id": score["id"]})
    after = (await gql.data(SUMMARY, {"f": {"names": ["quality"]}}))["scoreSummary"]
    assert after == [summary("quality", 4, [4, 2, 3, 5])]
    assert await gql.error_code(DELETE, {"id": score["id"]}) == "NOT_FOUND"


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("NUMERIC", {}),
        ("NUMERIC", {"value": 1, "label": "x"}),
        ("BOOLEAN", {"value": 0.5}),
        ("CATEGORICAL", {"value": 1}),
        ("CATEGORICAL", {"label": "  "}),
    ],
)
async def test_values_must_fit_the_kind(gql: GraphQLClient, kind: str, values: Any) -> None:
    f = await build(gql)
    variables = {"i": {"targetId": f.m1, "name": "q", "kind": kind, **values}}
    assert await gql.error_code(ADD, variables) == "BAD_USER_INPUT"


async def test_bad_targets(gql: GraphQLClient) -> None:
    f = await build(gql)
    plan = await factories.plan(gql, f.conversation, [[]])
    for target, code in ((plan["id"], "BAD_USER_INPUT"), ("nonsense", "BAD_USER_INPUT")):
        variables = {"i": {"targetId": target, "name": "q", "kind": "NUMERIC", "value": 1}}
        assert await gql.error_code(ADD, variables) == code
    score = await add(gql, f.m1, "tone", "CATEGORICAL", label="ok")
    # A label cannot become a value: the kind stays what it was.
    assert await gql.error_code(UPDATE, {"id": score["id"], "i": {"value": 1}}) == "BAD_USER_INPUT"


async def test_only_visible_scores_count(secured_http: httpx.AsyncClient) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    mine = await build(alice, owner="alice")
    theirs = await build(carol, owner="carol")
    await add(alice, mine.m1, "quality", "NUMERIC", value=2)
    await add(carol, theirs.m1, "quality", "NUMERIC", value=8)
    assert (await alice.data(SUMMARY))["scoreSummary"] == [summary("quality", 1, [2])]
    # Carol cannot score, nor learn of, alice's message.
    variables = {"i": {"targetId": mine.m1, "name": "q", "kind": "NUMERIC", "value": 1}}
    assert await carol.error_code(ADD, variables) == "NOT_FOUND"
