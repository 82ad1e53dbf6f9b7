"""The demo data, read through the API: its runs carry the state they started from, and
its messages their turns, types, confidence and references."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from config import Settings
from resolvers.context import Context
from resolvers.demo import gid, load_demo
from resolvers.demo_data import PEP
from tests.graphql_client import GraphQLClient

READ = """query($id: ID!) { conversation(id: $id) {
  messages(allBranches: true) { nodes { id role content turnId messageType confidence
    references { kind node { id } document title } } }
  traces { nodes { initialMemoryState initialConversationState systemConfig } }
} }"""


async def read(gql: GraphQLClient, key: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql.data(READ, {"id": gid("Conversation", key)}))["conversation"]
    return found


async def test_the_demo_fills_turns_types_references_and_initial_state(
    app: Starlette, settings: Settings, gql: GraphQLClient
) -> None:
    await load_demo(Context.create(app.state.database, settings, app.state.bus))
    research = await read(gql, "research")
    by_key = {m["id"]: m for m in research["messages"]["nodes"]}
    q1, a1 = by_key[gid("Message", "q1")], by_key[gid("Message", "a1")]
    edit, a2 = by_key[gid("Message", "q1-edit")], by_key[gid("Message", "a2")]
    # Each question opens a turn (the edit one of its own), its answer joins it.
    assert (q1["turnId"], a1["turnId"]) == (q1["id"], q1["id"])
    assert (edit["turnId"], a2["turnId"]) == (edit["id"], edit["id"])
    assert [m["messageType"] for m in (q1, a1, edit, a2)] == ["TEXT", "ANSWER", "TEXT", "ANSWER"]
    assert (q1["confidence"], a1["confidence"], a2["confidence"]) == (None, 0.93, 0.78)
    assert a1["references"] == [
        {"kind": "SPAN", "node": {"id": gid("Span", "t1/memory")}, "document": None, "title": None},
        {"kind": "SPAN", "node": {"id": gid("Span", "t1/search")}, "document": None, "title": None},
        {
            "kind": "DOCUMENT",
            "node": None,
            "document": PEP,
            "title": "PEP 634 - Structural Pattern Matching",
        },
    ]
    assert all(trace["systemConfig"] for trace in research["traces"]["nodes"])
    assert all(trace["initialMemoryState"] for trace in research["traces"]["nodes"])
    assert all(trace["initialConversationState"] for trace in research["traces"]["nodes"])

    handoff = (await read(gql, "handoff"))["messages"]["nodes"]
    task = handoff[0]
    assert (task["content"][:12], task["messageType"]) == ("/search is b", "PLAN")
    # Agents speaking to each other: the task opens the turn its replies join.
    assert [m["turnId"] for m in handoff] == [task["id"]] * len(handoff)

    group = (await read(gql, "reading-group"))["messages"]["nodes"]
    assert [m["role"] for m in group] == ["USER", "ASSISTANT", "USER", "ASSISTANT"]
    assert [m["turnId"] for m in group] == [group[0]["id"]] * 2 + [group[2]["id"]] * 2
    assert group[3]["references"] == [
        {"kind": "MESSAGE", "node": {"id": group[1]["id"]}, "document": None, "title": None}
    ]
