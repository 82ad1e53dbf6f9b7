"""`Trace.compare(other:)` through /graphql: two runs side by side, what they started
from, the component versions they used, their figures; for the caller's runs only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.identities import as_user
from tests.schema.test_traces import at

FIGURES = "totalTokens cost durationMs spanCount errorCount"
COMPARISON = f"""
  left {{ id }} right {{ id }}
  stateDifferences {{ path change left right }} stateDifferencesTruncated
  components {{ component {{ key }} usedBy versionChanged
    leftVersions {{ versionNumber }} rightVersions {{ versionNumber }} }}
  leftFigures {{ {FIGURES} }} rightFigures {{ {FIGURES} }} delta {{ {FIGURES} }}
"""
COMPARE = f"""query($id: ID!, $other: ID!) {{ trace(id: $id) {{
  compare(other: $other) {{ {COMPARISON} }} }} }}"""
LEFT_STATE: dict[str, Any] = {
    "initialMemoryState": {"facts": ["likes tea"]},
    "initialConversationState": {"messages": 2, "a.b": 1},
    "systemConfig": {"model": "gpt-4o", "temperature": 0.2, "tools": ["search"]},
}
RIGHT_STATE: dict[str, Any] = {
    "initialConversationState": {"messages": 2},
    "systemConfig": {
        "model": "claude-sonnet-4",
        "temperature": 0.2,
        "tools": ["search", "calc"],
        "top_p": 0.9,
    },
}


async def compare(gql: GraphQLClient, left: str, right: str) -> Any:
    return (await gql.data(COMPARE, {"id": left, "other": right}))["trace"]["compare"]


async def version(gql: GraphQLClient, key: str, text: str, **input: Any) -> str:
    payload = {"componentKey": key, "type": "PROMPT", "definition": {"text": text}, **input}
    return str((await factories.mutate(gql, "registerComponentVersion", payload))["id"])


async def run(
    gql: GraphQLClient,
    conversation: str,
    state: dict[str, Any],
    spans: list[dict[str, Any]],
    seconds: float | None,
) -> str:
    """A trace started at 0 with `state`, its spans started and ended as given (each a
    startSpan input plus `end`, the endSpan input), ended after `seconds` unless None."""
    trace = (await factories.trace(gql, conversation, startedAt=at(0), **state))["id"]
    for given in spans:
        end = given.pop("end", {})
        span = (await factories.span(gql, trace, startedAt=at(0), **given))["id"]
        await factories.end_span(gql, span, endedAt=at(1), **end)
    if seconds is not None:
        await factories.mutate(gql, "endTrace", {"traceId": trace, "endedAt": at(seconds)})
    return trace


@dataclass
class Runs:
    conversation: str
    left: str
    right: str


async def two_runs(gql: GraphQLClient) -> Runs:
    """Left: prompt v1, search, shared; 120 tokens, 10 s. Right: prompt v2, config,
    shared; 350 tokens and an error, 4 s."""
    prompt = [await version(gql, "prompt", text) for text in ("v1", "v2")]
    search, config = await version(gql, "search", "s"), await version(gql, "config", "c")
    shared = await version(gql, "shared", "x")
    conv = (await factories.conversation(gql))["id"]
    left = await run(
        gql,
        conv,
        LEFT_STATE,
        [
            {
                "name": "llm",
                "componentVersionIds": [prompt[0], shared],
                "end": {"inputTokens": 100, "outputTokens": 20, "cost": 0.5},
            },
            {"name": "tool", "componentVersionIds": [search, shared]},
        ],
        10,
    )
    right = await run(
        gql,
        conv,
        RIGHT_STATE,
        [
            {
                "name": "llm",
                "componentVersionIds": [prompt[1], config, shared],
                "end": {"inputTokens": 300, "outputTokens": 50, "cost": 1.25},
            },
            {"name": "tool", "end": {"status": "ERROR", "error": "down"}},
            {"name": "retry"},
        ],
        4,
    )
    return Runs(conv, left, right)


def use(key: str, used_by: str, changed: bool, left: list[int], right: list[int]) -> Any:
    return {
        "component": {"key": key},
        "usedBy": used_by,
        "versionChanged": changed,
        "leftVersions": [{"versionNumber": n} for n in left],
        "rightVersions": [{"versionNumber": n} for n in right],
    }


async def test_two_runs_side_by_side(gql: GraphQLClient) -> None:
    runs = await two_runs(gql)
    found = await compare(gql, runs.left, runs.right)
    assert (found["left"]["id"], found["right"]["id"]) == (runs.left, runs.right)
    assert found["stateDifferences"] == [
        {
            "path": "initialMemoryState",
            "change": "CHANGED",
            "left": {"facts": ["likes tea"]},
            "right": None,
        },
        {"path": 'initialConversationState["a.b"]', "change": "REMOVED", "left": 1, "right": None},
        {
            "path": "systemConfig.model",
            "change": "CHANGED",
            "left": "gpt-4o",
            "right": "claude-sonnet-4",
        },
        {
            "path": "systemConfig.tools",
            "change": "CHANGED",
            "left": ["search"],
            "right": ["search", "calc"],
        },
        {"path": "systemConfig.top_p", "change": "ADDED", "left": None, "right": 0.9},
    ]
    assert found["stateDifferencesTruncated"] is False
    assert found["components"] == [
        use("config", "RIGHT_ONLY", False, [], [1]),
        use("prompt", "BOTH", True, [1], [2]),
        use("search", "LEFT_ONLY", False, [1], []),
        use("shared", "BOTH", False, [1], [1]),
    ]
    assert found["leftFigures"] == {
        "totalTokens": 120,
        "cost": 0.5,
        "durationMs": 10000.0,
        "spanCount": 2,
        "errorCount": 0,
    }
    assert found["rightFigures"] == {
        "totalTokens": 350,
        "cost": 1.25,
        "durationMs": 4000.0,
        "spanCount": 3,
        "errorCount": 1,
    }
    assert found["delta"] == {
        "totalTokens": 230,
        "cost": 0.75,
        "durationMs": -6000.0,
        "spanCount": 1,
        "errorCount": 1,
    }


async def test_a_run_compared_with_itself_and_with_a_running_one(gql: GraphQLClient) -> None:
    runs = await two_runs(gql)
    same = await compare(gql, runs.left, runs.left)
    assert same["stateDifferences"] == []
    assert all(u["usedBy"] == "BOTH" and not u["versionChanged"] for u in same["components"])
    assert same["delta"] == {
        "totalTokens": 0,
        "cost": 0.0,
        "durationMs": 0.0,
        "spanCount": 0,
        "errorCount": 0,
    }
    running = await run(gql, runs.conversation, {}, [], None)
    found = await compare(gql, runs.left, running)
    assert (found["rightFigures"]["durationMs"], found["delta"]["durationMs"]) == (None, None)
    assert found["rightFigures"]["spanCount"] == 0
    # Nothing recorded on the right: each recorded value differs whole.
    assert [(d["path"], d["right"]) for d in found["stateDifferences"]] == [
        ("initialMemoryState", None),
        ("initialConversationState", None),
        ("systemConfig", None),
    ]


async def test_many_differences_are_truncated(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    left = await run(gql, conv, {"systemConfig": {f"k{i}": i for i in range(300)}}, [], None)
    right = await run(gql, conv, {"systemConfig": {}}, [], None)
    found = await compare(gql, left, right)
    assert found["stateDifferencesTruncated"] is True
    assert len(found["stateDifferences"]) == 200
    assert found["stateDifferences"][0] == {
        "path": "systemConfig.k0",
        "change": "REMOVED",
        "left": 0,
        "right": None,
    }


async def test_bad_and_missing_other_ids(gql: GraphQLClient) -> None:
    runs = await two_runs(gql)
    missing = to_global_id("Trace", uuid.uuid4())
    error = await gql.error(COMPARE, {"id": runs.left, "other": missing})
    assert (error["extensions"]["code"], error["message"]) == (
        "NOT_FOUND",
        f"Trace '{missing}' does not exist",
    )
    variables = {"id": runs.left, "other": runs.conversation}
    assert await gql.error_code(COMPARE, variables) == "BAD_USER_INPUT"
    variables = {"id": runs.left, "other": "not an id"}
    assert await gql.error_code(COMPARE, variables) == "BAD_USER_INPUT"


async def test_a_strangers_run_is_not_found_as_a_missing_one_and_private_versions_hide(
    secured_http: httpx.AsyncClient,
) -> None:
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    erin = as_user(secured_http, "erin")
    conv = await factories.conversation(
        alice,
        owner={"participantId": "alice"},
        participants=[{"participantId": "erin", "role": "OBSERVER"}],
    )
    secret = await version(alice, "alice-secret", "s", private=True)
    shared = await version(alice, "public", "p")
    used = {"name": "s", "componentVersionIds": [secret, shared]}
    mine = await run(alice, conv["id"], {"systemConfig": {"a": 1}}, [used], 2)
    other = await run(alice, conv["id"], {"systemConfig": {"a": 2}}, [], 3)
    carols_conv = await factories.conversation(carol, owner={"participantId": "carol"})
    carols = await run(carol, carols_conv["id"], {"systemConfig": {"secret": 1}}, [], 1)

    # Carol's run, to alice, is a run that does not exist: same code, same words.
    error = await alice.error(COMPARE, {"id": mine, "other": carols})
    assert (error["extensions"]["code"], error["message"]) == (
        "NOT_FOUND",
        f"Trace '{carols}' does not exist",
    )
    assert "secret" not in str(error)
    # And alice's, to carol, is not there at all.
    assert (await carol.data(COMPARE, {"id": mine, "other": carols}))["trace"] is None
    # An observer compares what she sees, without alice's private component.
    found = await compare(erin, mine, other)
    assert [u["component"]["key"] for u in found["components"]] == ["public"]
    assert found["stateDifferences"] == [
        {"path": "systemConfig.a", "change": "CHANGED", "left": 1, "right": 2}
    ]
    found = await compare(alice, mine, other)
    assert [u["component"]["key"] for u in found["components"]] == ["alice-secret", "public"]


async def test_statements_do_not_grow_with_spans_or_traces(
    gql: GraphQLClient, sql: StatementCounter
) -> None:
    """A comparison reads its other trace, span counts and versions used: a statement
    each, for one comparison or many, of runs of 2 spans or 40."""
    runs = await two_runs(gql)
    sql.reset()
    await compare(gql, runs.left, runs.right)
    small = sql.count
    prompt = await version(gql, "prompt", "v1")
    many = [{"name": f"s{i}", "componentVersionIds": [prompt]} for i in range(40)]
    big = await run(gql, runs.conversation, LEFT_STATE, many, 5)
    sql.reset()
    await compare(gql, runs.left, big)
    assert sql.count == small
    listed = f"""query($c: ID!, $other: ID!) {{ conversation(id: $c) {{ traces {{ nodes {{
      compare(other: $other) {{ {COMPARISON} }} }} }} }} }}"""
    sql.reset()
    found = await gql.data(listed, {"c": runs.conversation, "other": runs.right})
    assert len(found["conversation"]["traces"]["nodes"]) == 3
    three = sql.count
    await run(gql, runs.conversation, RIGHT_STATE, many[:5], 2)
    sql.reset()
    found = await gql.data(listed, {"c": runs.conversation, "other": runs.right})
    assert len(found["conversation"]["traces"]["nodes"]) == 4
    assert sql.count == three
