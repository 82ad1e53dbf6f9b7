"""Writers racing on one conversation: sequence numbers and roll-ups stay exact."""

from __future__ import annotations

import asyncio

from tests import factories
from tests.graphql_client import GraphQLClient

WRITERS = 12


async def test_concurrent_sends_get_distinct_sequence_numbers(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    sent = await asyncio.gather(
        *(
            factories.message(gql, conv["id"], "seq", content=f"m{n}", inputTokens=2, cost=0.5)
            for n in range(WRITERS)
        )
    )
    assert sorted(m["seq"] for m in sent) == list(range(1, WRITERS + 1))
    totals = await gql.data(
        """query($c: ID!) { conversation(id: $c) {
             messageCount inputTokens cost messages { totalCount } } }""",
        {"c": conv["id"]},
    )
    assert totals["conversation"] == {
        "messageCount": WRITERS,
        "inputTokens": 2 * WRITERS,
        "cost": 0.5 * WRITERS,
        "messages": {"totalCount": WRITERS},
    }


async def test_concurrent_registrations_of_one_definition_make_one_version(
    gql: GraphQLClient,
) -> None:
    versions = await asyncio.gather(
        *(
            factories.component_version(gql, "prompt", {"text": "same"}, fields="id versionNumber")
            for _ in range(WRITERS)
        )
    )
    assert {v["id"] for v in versions} == {versions[0]["id"]}
    assert versions[0]["versionNumber"] == 1


async def test_steps_completing_together_complete_the_plan(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan = await factories.plan(gql, conv["id"], [[]] * 6, fields="id steps { id }")
    steps = [s["id"] for s in plan["steps"]]
    move = factories.mutation_document("updateStepStatus", "status")
    for status in ("RUNNING", "COMPLETED"):
        await asyncio.gather(
            *(gql.data(move, {"input": {"stepId": s, "status": status}}) for s in steps)
        )
    found = await gql.data("query($p: ID!) { plan(id: $p) { status } }", {"p": plan["id"]})
    assert found["plan"]["status"] == "COMPLETED"


async def test_one_step_started_twice_at_once_starts_once(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan = await factories.plan(gql, conv["id"], [[]], fields="steps { id }")
    move = factories.mutation_document("updateStepStatus", "status")
    payload = {"input": {"stepId": plan["steps"][0]["id"], "status": "RUNNING"}}
    bodies = await asyncio.gather(*(gql.execute(move, payload) for _ in range(4)))
    codes = sorted(b["errors"][0]["extensions"]["code"] for b in bodies if b.get("errors"))
    assert codes == ["CONFLICT"] * 3


async def test_participants_added_together_make_it_multi_party(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql, participants=[])
    add = """mutation($c: ID!, $p: String!) {
        addParticipant(conversationId: $c, participant: {participantId: $p}) { id } }"""
    await asyncio.gather(*(gql.data(add, {"c": conv["id"], "p": f"user-{n}"}) for n in range(2, 5)))
    found = await gql.data(
        "query($c: ID!) { conversation(id: $c) { kind participants { id } } }", {"c": conv["id"]}
    )
    assert found["conversation"]["kind"] == "MULTI_PARTY"
    assert len(found["conversation"]["participants"]) == 4


async def test_a_span_ended_twice_at_once_counts_its_tokens_once(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    trace = await factories.trace(gql, conv["id"])
    span = await factories.span(gql, trace["id"])
    end = factories.mutation_document("endSpan", "id")
    payload = {"input": {"spanId": span["id"], "inputTokens": 5}}
    bodies = await asyncio.gather(*(gql.execute(end, payload) for _ in range(4)))
    assert sum(1 for b in bodies if not b.get("errors")) == 1
    found = await gql.data("query($t: ID!) { trace(id: $t) { totalTokens } }", {"t": trace["id"]})
    assert found["trace"]["totalTokens"] == 5
