"""Plans, steps, step dependencies and step status changes through /graphql."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient

DIAMOND = [[], [0], [0], [1, 2]]
STEPS = "steps { id position description status dependencies { position } dependents { position } }"
PLAN = f"id title status currentStepIndex maxRetries conversation {{ id }} message {{ id }} {STEPS}"
STEP = """id position status result error retries startedAt completedAt
          plan { status currentStepIndex }"""
ADD_DEPENDENCY = """mutation($s: ID!, $d: ID!) {
  addStepDependency(stepId: $s, dependsOnStepId: $d) { id dependencies { id } } }"""
SET_STATUS = """mutation($p: ID!, $s: PlanStatus!) {
  setPlanStatus(planId: $p, status: $s) { status } }"""


async def step_ids(
    gql: GraphQLClient, conversation_id: str, depends_on: list[list[int]], **input: Any
) -> tuple[str, list[str]]:
    """A new plan's id and its steps' ids, in order."""
    plan = await factories.plan(gql, conversation_id, depends_on, "id steps { id }", **input)
    return plan["id"], [s["id"] for s in plan["steps"]]


async def move(gql: GraphQLClient, step_id: str, status: str, **input: Any) -> Any:
    payload = {"stepId": step_id, "status": status, **input}
    return await factories.mutate(gql, "updateStepStatus", payload, STEP)


async def move_error(gql: GraphQLClient, step_id: str, status: str) -> dict[str, Any]:
    doc = factories.mutation_document("updateStepStatus", "id")
    return await gql.error(doc, {"input": {"stepId": step_id, "status": status}})


async def read_plan(gql: GraphQLClient, plan_id: str) -> Any:
    data = await gql.data(
        "query($p: ID!) { plan(id: $p) { status currentStepIndex steps { status retries } } }",
        {"p": plan_id},
    )
    return data["plan"]


async def plan_count(gql: GraphQLClient, conversation_id: str) -> int:
    data = await gql.data(
        "query($c: ID!) { conversation(id: $c) { plans { totalCount } } }", {"c": conversation_id}
    )
    count: int = data["conversation"]["plans"]["totalCount"]
    return count


# --- createPlan -------------------------------------------------------------------------


async def test_create_plan_with_ordered_steps_and_dependencies(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    message = await factories.message(gql, conv["id"], role="ASSISTANT", senderId="agent-1")
    plan = await factories.plan(
        gql, conv["id"], DIAMOND, PLAN, title="Trip", messageId=message["id"], maxRetries=2
    )
    assert plan["title"] == "Trip"
    assert plan["status"] == "DRAFT"
    assert plan["currentStepIndex"] is None
    assert plan["maxRetries"] == 2
    assert plan["conversation"] == {"id": conv["id"]}
    assert plan["message"] == {"id": message["id"]}
    steps = plan["steps"]
    assert [s["position"] for s in steps] == [0, 1, 2, 3]
    assert [s["description"] for s in steps] == ["step 0", "step 1", "step 2", "step 3"]
    assert {s["status"] for s in steps} == {"PENDING"}
    dependencies = [[d["position"] for d in s["dependencies"]] for s in steps]
    assert dependencies == DIAMOND
    dependents = [[d["position"] for d in s["dependents"]] for s in steps]
    assert dependents == [[1, 2], [3], [3], []]

    read = await gql.data(
        """query($c: ID!, $p: ID!) { plan(id: $p) { id steps { id } }
             conversation(id: $c) { plans { totalCount nodes { id } } } }""",
        {"c": conv["id"], "p": plan["id"]},
    )
    assert read["plan"]["steps"] == [{"id": s["id"]} for s in steps]
    assert read["conversation"]["plans"] == {"totalCount": 1, "nodes": [{"id": plan["id"]}]}


async def test_plan_without_message_and_step_links_back_to_plan(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan = await factories.plan(gql, conv["id"], [[]], "id message { id } steps { plan { id } }")
    assert plan["message"] is None
    assert plan["steps"] == [{"plan": {"id": plan["id"]}}]


def _steps(depends_on: list[list[int]]) -> list[dict[str, Any]]:
    return [{"description": f"s{i}", "dependsOn": deps} for i, deps in enumerate(depends_on)]


@pytest.mark.parametrize(
    ("input", "words"),
    [
        pytest.param({"steps": []}, "at least one step", id="no-steps"),
        pytest.param({"steps": _steps([[1], [2], [0]])}, "cycle", id="cycle"),
        pytest.param({"steps": _steps([[], [1]])}, "itself", id="self"),
        pytest.param({"steps": _steps([[], [2]])}, "does not exist", id="out-of-range"),
        pytest.param({"steps": _steps([[-1]])}, "does not exist", id="negative-position"),
        pytest.param({"steps": [{"description": " "}]}, "description", id="blank-step"),
        pytest.param({"title": "  "}, "title", id="blank-title"),
        pytest.param({"maxRetries": -1}, "maxRetries", id="negative-retries"),
        pytest.param({"timeoutSeconds": 0}, "timeoutSeconds", id="zero-timeout"),
        pytest.param({"context": [1]}, "context", id="context"),
        pytest.param({"status": "COMPLETED"}, "DRAFT or RUNNING", id="completed"),
        pytest.param({"status": "CANCELLED"}, "DRAFT or RUNNING", id="cancelled"),
        pytest.param({"id": "nope"}, "valid id", id="client-id"),
    ],
)
async def test_bad_plans_are_rejected_and_nothing_written(
    gql: GraphQLClient, input: dict[str, Any], words: str
) -> None:
    conv = await factories.conversation(gql)
    payload = {"conversationId": conv["id"], "title": "t", "steps": _steps([[]]), **input}
    error = await gql.error(factories.mutation_document("createPlan", "id"), {"input": payload})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert words in error["message"]
    assert await plan_count(gql, conv["id"]) == 0


async def test_plan_references_are_checked(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    other = await factories.conversation(gql)
    foreign = (await factories.message(gql, other["id"]))["id"]
    doc = factories.mutation_document("createPlan", "id")
    base = {"conversationId": conv["id"], "title": "t", "steps": _steps([[]])}
    cases = [
        ({"messageId": foreign}, "BAD_USER_INPUT"),
        ({"messageId": conv["id"]}, "BAD_USER_INPUT"),
        ({"messageId": to_global_id("Message", uuid.uuid4())}, "NOT_FOUND"),
        ({"conversationId": foreign}, "BAD_USER_INPUT"),
        ({"conversationId": to_global_id("Conversation", uuid.uuid4())}, "NOT_FOUND"),
    ]
    for change, code in cases:
        assert await gql.error_code(doc, {"input": {**base, **change}}) == code, change
    assert await plan_count(gql, conv["id"]) == 0
    assert await plan_count(gql, other["id"]) == 0


async def test_client_id_makes_create_plan_retry_safe(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    client_id = str(uuid.uuid4())
    first = await factories.plan(gql, conv["id"], [[], [0]], "id steps { id }", id=client_id)
    again = await factories.plan(gql, conv["id"], [[], [0]], "id steps { id }", id=client_id)
    assert again == first
    assert first["id"] == to_global_id("Plan", client_id)
    assert await plan_count(gql, conv["id"]) == 1
    other = await factories.conversation(gql)
    doc = factories.mutation_document("createPlan", "id")
    stolen = {"conversationId": other["id"], "title": "t", "steps": _steps([[]]), "id": client_id}
    assert await gql.error_code(doc, {"input": stolen}) == "CONFLICT"


# --- updateStepStatus ------------------------------------------------------------------


async def test_step_waits_for_its_dependencies(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], DIAMOND)
    error = await move_error(gql, steps[3], "RUNNING")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "step 3 cannot start" in error["message"]
    assert "step 1 (PENDING)" in error["message"]
    assert "step 2 (PENDING)" in error["message"]
    error = await move_error(gql, steps[1], "RUNNING")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "step 1 cannot start before step 0 (PENDING)" in error["message"]

    await move(gql, steps[0], "RUNNING")
    error = await move_error(gql, steps[1], "RUNNING")
    assert "step 0 (RUNNING)" in error["message"]
    await move(gql, steps[0], "COMPLETED")
    await move(gql, steps[1], "RUNNING")
    await move(gql, steps[1], "COMPLETED")
    error = await move_error(gql, steps[3], "RUNNING")
    assert "step 2 (PENDING)" in error["message"]
    assert "step 1" not in error["message"].split("before", 1)[1]
    assert [s["status"] for s in (await read_plan(gql, plan_id))["steps"]] == [
        "COMPLETED",
        "COMPLETED",
        "PENDING",
        "PENDING",
    ]


async def test_steps_run_and_the_plan_follows(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], DIAMOND)

    running = await move(gql, steps[0], "RUNNING")
    assert running["status"] == "RUNNING"
    assert running["startedAt"] is not None
    assert running["completedAt"] is None
    assert running["plan"] == {"status": "RUNNING", "currentStepIndex": 0}

    done = await move(gql, steps[0], "COMPLETED", result={"found": [1, 2]})
    assert done["status"] == "COMPLETED"
    assert done["result"] == {"found": [1, 2]}
    assert done["startedAt"] == running["startedAt"]
    assert datetime.fromisoformat(done["completedAt"]) >= datetime.fromisoformat(done["startedAt"])
    assert done["plan"] == {"status": "RUNNING", "currentStepIndex": 0}

    assert (await move(gql, steps[1], "RUNNING"))["plan"]["currentStepIndex"] == 1
    assert (await move(gql, steps[2], "RUNNING"))["plan"]["currentStepIndex"] == 2
    await move(gql, steps[2], "COMPLETED")
    await move(gql, steps[1], "COMPLETED")
    assert (await read_plan(gql, plan_id))["status"] == "RUNNING"
    skipped = await move(gql, steps[3], "SKIPPED")
    assert skipped["status"] == "SKIPPED"
    assert skipped["startedAt"] is None
    assert skipped["completedAt"] is not None
    assert skipped["plan"] == {"status": "COMPLETED", "currentStepIndex": None}

    # A finished plan is final: its steps cannot change any more.
    assert (await move_error(gql, steps[3], "RUNNING"))["extensions"]["code"] == "CONFLICT"


async def test_plan_completes_when_every_step_completes(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], [[], []])
    await move(gql, steps[1], "RUNNING")
    assert (await move(gql, steps[1], "COMPLETED"))["plan"]["status"] == "RUNNING"
    await move(gql, steps[0], "RUNNING")
    assert (await move(gql, steps[0], "COMPLETED"))["plan"] == {
        "status": "COMPLETED",
        "currentStepIndex": None,
    }
    assert (await read_plan(gql, plan_id))["status"] == "COMPLETED"


async def test_a_skipped_dependency_does_not_let_a_step_start(gql: GraphQLClient) -> None:
    # Only COMPLETED unblocks a dependent step; SKIPPED counts as done for the plan only.
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], [[], [0]])
    assert (await move(gql, steps[0], "SKIPPED"))["plan"]["status"] == "DRAFT"
    error = await move_error(gql, steps[1], "RUNNING")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "step 0 (SKIPPED)" in error["message"]
    assert (await move(gql, steps[1], "SKIPPED"))["plan"]["status"] == "COMPLETED"
    assert (await read_plan(gql, plan_id))["steps"] == [
        {"status": "SKIPPED", "retries": 0},
        {"status": "SKIPPED", "retries": 0},
    ]


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], "COMPLETED"),
        ([], "FAILED"),
        ([], "PENDING"),
        (["RUNNING"], "RUNNING"),
        (["RUNNING"], "SKIPPED"),
        (["RUNNING"], "PENDING"),
        (["RUNNING", "COMPLETED"], "RUNNING"),
        (["RUNNING", "COMPLETED"], "FAILED"),
        (["SKIPPED"], "RUNNING"),
        (["RUNNING", "FAILED"], "COMPLETED"),
    ],
)
async def test_invalid_transitions_are_conflicts(
    gql: GraphQLClient, path: list[str], bad: str
) -> None:
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], [[], []], maxRetries=3)
    for status in path:
        await move(gql, steps[0], status)
    before = await read_plan(gql, plan_id)
    error = await move_error(gql, steps[0], bad)
    assert error["extensions"]["code"] == "CONFLICT"
    assert f"cannot become {bad}" in error["message"]
    assert await read_plan(gql, plan_id) == before


async def test_failed_step_is_retried_up_to_max_retries(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], [[], [0]], maxRetries=1)
    await move(gql, steps[0], "RUNNING")
    failed = await move(gql, steps[0], "FAILED", error="timeout", result={"partial": True})
    assert failed["status"] == "FAILED"
    assert failed["error"] == "timeout"
    assert failed["result"] == {"partial": True}
    assert failed["completedAt"] is not None
    assert failed["plan"]["status"] == "RUNNING"
    # A failed dependency does not let the next step start.
    assert (await move_error(gql, steps[1], "RUNNING"))["extensions"]["code"] == "BAD_USER_INPUT"

    retry = await move(gql, steps[0], "RUNNING")
    assert retry["status"] == "RUNNING"
    assert retry["retries"] == 1
    assert retry["error"] is None
    assert retry["completedAt"] is None
    await move(gql, steps[0], "FAILED", error="timeout again")

    error = await move_error(gql, steps[0], "RUNNING")
    assert error["extensions"]["code"] == "CONFLICT"
    assert "retries" in error["message"]
    after = await read_plan(gql, plan_id)
    assert after["steps"][0] == {"status": "FAILED", "retries": 1}

    # A step that failed for good can still be skipped, which unblocks nothing.
    assert (await move(gql, steps[0], "SKIPPED"))["status"] == "SKIPPED"


async def test_max_retries_defaults_to_three(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan = await factories.plan(gql, conv["id"], [[], []], "id maxRetries steps { id }")
    assert plan["maxRetries"] == 3
    steps = [s["id"] for s in plan["steps"]]
    await move(gql, steps[0], "RUNNING")
    for retry in (1, 2, 3):
        await move(gql, steps[0], "FAILED")
        assert (await move(gql, steps[0], "RUNNING"))["retries"] == retry
    await move(gql, steps[0], "FAILED")
    error = await move_error(gql, steps[0], "RUNNING")
    assert error["extensions"]["code"] == "CONFLICT"
    assert "already used its 3 retries" in error["message"]
    # Each step has retries of its own.
    await move(gql, steps[1], "RUNNING")
    await move(gql, steps[1], "FAILED")
    assert (await move(gql, steps[1], "RUNNING"))["retries"] == 1
    found = await gql.data("query($p: ID!) { plan(id: $p) { maxRetries } }", {"p": plan["id"]})
    assert found["plan"]["maxRetries"] == 3


async def test_with_no_retries_a_failed_step_cannot_rerun(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    _, steps = await step_ids(gql, conv["id"], [[]], maxRetries=0)
    await move(gql, steps[0], "RUNNING")
    await move(gql, steps[0], "FAILED")
    assert (await move_error(gql, steps[0], "RUNNING"))["extensions"]["code"] == "CONFLICT"


async def test_update_step_status_checks_the_step_id(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    assert (await move_error(gql, to_global_id("PlanStep", uuid.uuid4()), "RUNNING"))["extensions"][
        "code"
    ] == "NOT_FOUND"
    assert (await move_error(gql, conv["id"], "RUNNING"))["extensions"]["code"] == "BAD_USER_INPUT"


# --- addStepDependency -----------------------------------------------------------------


async def test_add_step_dependency_is_idempotent_and_enforced(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], [[], [], []])
    vars = {"s": steps[2], "d": steps[0]}
    added = (await gql.data(ADD_DEPENDENCY, vars))["addStepDependency"]
    assert added == {"id": steps[2], "dependencies": [{"id": steps[0]}]}
    again = (await gql.data(ADD_DEPENDENCY, vars))["addStepDependency"]
    assert again == added
    dependents = await gql.data(
        "query($p: ID!) { plan(id: $p) { steps { dependents { id } } } }", {"p": plan_id}
    )
    assert dependents["plan"]["steps"][0]["dependents"] == [{"id": steps[2]}]

    error = await move_error(gql, steps[2], "RUNNING")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "step 0" in error["message"]


async def test_add_step_dependency_rejects_bad_links(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    _, steps = await step_ids(gql, conv["id"], [[], [0], [1]])
    _, others = await step_ids(gql, conv["id"], [[]])

    error = await gql.error(ADD_DEPENDENCY, {"s": steps[0], "d": steps[2]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "cycle" in error["message"]
    cases = [
        ({"s": steps[1], "d": steps[1]}, "BAD_USER_INPUT"),
        ({"s": steps[1], "d": others[0]}, "BAD_USER_INPUT"),
        ({"s": steps[1], "d": conv["id"]}, "BAD_USER_INPUT"),
        ({"s": steps[1], "d": to_global_id("PlanStep", uuid.uuid4())}, "NOT_FOUND"),
    ]
    for variables, code in cases:
        assert await gql.error_code(ADD_DEPENDENCY, variables) == code, variables

    await move(gql, steps[0], "RUNNING")
    error = await gql.error(ADD_DEPENDENCY, {"s": steps[0], "d": others[0]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"  # another plan, checked first
    _, fresh = await step_ids(gql, conv["id"], [[], []])
    await move(gql, fresh[1], "RUNNING")
    error = await gql.error(ADD_DEPENDENCY, {"s": fresh[1], "d": fresh[0]})
    assert error["extensions"]["code"] == "CONFLICT"
    assert "PENDING" in error["message"]

    unchanged = await gql.data(
        "query($s: [ID!]!) { nodes(ids: $s) { ... on PlanStep { dependencies { id } } } }",
        {"s": [*steps, *others, *fresh]},
    )
    assert [[d["id"] for d in n["dependencies"]] for n in unchanged["nodes"]] == [
        [],
        [steps[0]],
        [steps[1]],
        [],
        [],
        [],
    ]


# --- setPlanStatus ---------------------------------------------------------------------


async def test_cancelled_plan_is_final(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], [[], [], []])
    await move(gql, steps[0], "RUNNING")
    cancelled = await gql.data(SET_STATUS, {"p": plan_id, "s": "CANCELLED"})
    assert cancelled["setPlanStatus"] == {"status": "CANCELLED"}

    for step, status in [(steps[0], "COMPLETED"), (steps[0], "FAILED"), (steps[1], "RUNNING")]:
        error = await move_error(gql, step, status)
        assert error["extensions"]["code"] == "CONFLICT", (step, status)
        assert "CANCELLED" in error["message"]
    add = await gql.error(ADD_DEPENDENCY, {"s": steps[2], "d": steps[1]})
    assert add["extensions"]["code"] == "CONFLICT"
    assert await gql.error_code(SET_STATUS, {"p": plan_id, "s": "RUNNING"}) == "CONFLICT"

    after = await read_plan(gql, plan_id)
    assert after["status"] == "CANCELLED"
    assert [s["status"] for s in after["steps"]] == ["RUNNING", "PENDING", "PENDING"]
    deps = await gql.data(
        "query($s: ID!) { node(id: $s) { ... on PlanStep { dependencies { id } } } }",
        {"s": steps[2]},
    )
    assert deps["node"]["dependencies"] == []


async def test_set_plan_status_cannot_go_back_to_draft(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan_id, _ = await step_ids(gql, conv["id"], [[]])
    assert await gql.error_code(SET_STATUS, {"p": plan_id, "s": "DRAFT"}) == "BAD_USER_INPUT"
    running = await gql.data(SET_STATUS, {"p": plan_id, "s": "RUNNING"})
    assert running["setPlanStatus"] == {"status": "RUNNING"}
    missing = to_global_id("Plan", uuid.uuid4())
    assert await gql.error_code(SET_STATUS, {"p": missing, "s": "FAILED"}) == "NOT_FOUND"


async def test_closed_conversation_freezes_its_plans(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], [[], []])
    await gql.data("mutation($c: ID!) { closeConversation(id: $c) { id } }", {"c": conv["id"]})
    create = factories.mutation_document("createPlan", "id")
    payload = {"conversationId": conv["id"], "title": "t", "steps": _steps([[]])}
    assert await gql.error_code(create, {"input": payload}) == "CONFLICT"
    assert (await move_error(gql, steps[0], "RUNNING"))["extensions"]["code"] == "CONFLICT"
    assert await gql.error_code(ADD_DEPENDENCY, {"s": steps[1], "d": steps[0]}) == "CONFLICT"
    assert await gql.error_code(SET_STATUS, {"p": plan_id, "s": "CANCELLED"}) == "CONFLICT"
    after = await read_plan(gql, plan_id)
    assert after["status"] == "DRAFT"
    assert await plan_count(gql, conv["id"]) == 1


# --- completedAt ------------------------------------------------------------------------

FINISH = "status completedAt updatedAt"
SET_STATUS_FINISH = SET_STATUS.replace("{ status }", f"{{ {FINISH} }}")


async def read_finish(gql: GraphQLClient, plan_id: str) -> Any:
    data = await gql.data(f"query($p: ID!) {{ plan(id: $p) {{ {FINISH} }} }}", {"p": plan_id})
    return data["plan"]


async def test_completed_at_is_set_when_the_steps_complete_the_plan(gql: GraphQLClient) -> None:
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], [[], []])
    assert (await read_finish(gql, plan_id))["completedAt"] is None
    await move(gql, steps[0], "RUNNING")
    await move(gql, steps[0], "COMPLETED")
    halfway = await read_finish(gql, plan_id)
    assert (halfway["status"], halfway["completedAt"]) == ("RUNNING", None)
    last = await move(gql, steps[1], "SKIPPED")

    done = await read_finish(gql, plan_id)
    assert done["status"] == "COMPLETED"
    assert done["completedAt"] == done["updatedAt"]
    assert datetime.fromisoformat(done["completedAt"]) >= datetime.fromisoformat(
        last["completedAt"]
    )
    # Final: every later write is refused, and the time stays.
    assert (await move_error(gql, steps[1], "RUNNING"))["extensions"]["code"] == "CONFLICT"
    assert await gql.error_code(SET_STATUS, {"p": plan_id, "s": "CANCELLED"}) == "CONFLICT"
    assert await read_finish(gql, plan_id) == done


@pytest.mark.parametrize("final", ["FAILED", "CANCELLED", "COMPLETED"])
async def test_completed_at_is_set_by_a_final_plan_status(gql: GraphQLClient, final: str) -> None:
    conv = await factories.conversation(gql)
    plan_id, steps = await step_ids(gql, conv["id"], [[]])
    running = await gql.data(SET_STATUS_FINISH, {"p": plan_id, "s": "RUNNING"})
    assert running["setPlanStatus"]["completedAt"] is None

    ended = (await gql.data(SET_STATUS_FINISH, {"p": plan_id, "s": final}))["setPlanStatus"]
    assert ended["status"] == final
    assert ended["completedAt"] is not None
    assert ended["completedAt"] == ended["updatedAt"]
    assert await gql.error_code(SET_STATUS, {"p": plan_id, "s": "RUNNING"}) == "CONFLICT"
    assert (await move_error(gql, steps[0], "RUNNING"))["extensions"]["code"] == "CONFLICT"
    assert await read_finish(gql, plan_id) == ended
