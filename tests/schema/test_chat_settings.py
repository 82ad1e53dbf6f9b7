"""Per-user chat settings through /graphql: defaults, partial upserts, range checks and
the times of the first and last save."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from resolvers.writes import chat_settings
from tests.graphql_client import GraphQLClient

FIELDS = "userId enabledTools enabledAgents model temperature maxTokens createdAt updatedAt"
READ = f"query($u: String!) {{ chatSettings(userId: $u) {{ {FIELDS} }} }}"
UPSERT = f"""mutation($u: String!, $i: ChatSettingsInput!) {{
               upsertChatSettings(userId: $u, input: $i) {{ {FIELDS} }} }}"""
DEFAULTS: dict[str, Any] = {
    "enabledTools": [],
    "enabledAgents": [],
    "model": None,
    "temperature": 0.7,
    "maxTokens": 2000,
    "createdAt": None,
    "updatedAt": None,
}
TIMES = ("createdAt", "updatedAt")


async def read(gql: GraphQLClient, user_id: str) -> Any:
    return (await gql.data(READ, {"u": user_id}))["chatSettings"]


async def upsert(gql: GraphQLClient, user_id: str, **input: Any) -> Any:
    return (await gql.data(UPSERT, {"u": user_id, "i": input}))["upsertChatSettings"]


def without_time(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in TIMES}


async def test_a_user_who_never_saved_gets_the_defaults(gql: GraphQLClient) -> None:
    assert await read(gql, "newcomer") == {"userId": "newcomer", **DEFAULTS}
    # Reading writes nothing: still unsaved.
    assert [(await read(gql, "newcomer"))[time] for time in TIMES] == [None, None]


async def test_upsert_saves_then_changes_only_the_given_fields(gql: GraphQLClient) -> None:
    saved = await upsert(
        gql, "ann", model="gpt-x", enabledTools=["search", "clock", "search"], temperature=0.2
    )
    assert without_time(saved) == {
        "userId": "ann",
        "enabledTools": ["search", "clock"],
        "enabledAgents": [],
        "model": "gpt-x",
        "temperature": 0.2,
        "maxTokens": 2000,
    }
    assert saved["updatedAt"] is not None
    assert await read(gql, "ann") == saved

    changed = await upsert(
        gql, "ann", maxTokens=1000, enabledAgents=["planner", "planner", "coder"]
    )
    assert without_time(changed) == {
        "userId": "ann",
        "enabledTools": ["search", "clock"],
        "enabledAgents": ["planner", "coder"],
        "model": "gpt-x",
        "temperature": 0.2,
        "maxTokens": 1000,
    }
    assert datetime.fromisoformat(changed["updatedAt"]) >= datetime.fromisoformat(
        saved["updatedAt"]
    )
    assert await read(gql, "ann") == changed

    # An empty list empties one; null on `model` means no preferred model.
    cleared = await upsert(gql, "ann", model=None, enabledTools=[])
    assert (cleared["model"], cleared["enabledTools"]) == (None, [])
    assert (cleared["temperature"], cleared["maxTokens"]) == (0.2, 1000)
    assert await read(gql, "ann") == cleared


async def test_null_resets_fields_to_their_defaults(gql: GraphQLClient) -> None:
    await upsert(
        gql,
        "ann",
        model="gpt-x",
        enabledTools=["search"],
        enabledAgents=["planner"],
        temperature=0.2,
        maxTokens=1000,
    )
    reset = await upsert(gql, "ann", temperature=None, maxTokens=None, enabledTools=None)
    assert without_time(reset) == {
        "userId": "ann",
        "enabledTools": [],
        "enabledAgents": ["planner"],
        "model": "gpt-x",
        "temperature": 0.7,
        "maxTokens": 2000,
    }
    assert await read(gql, "ann") == reset
    everything = dict.fromkeys(
        ("model", "enabledTools", "enabledAgents", "temperature", "maxTokens")
    )
    reset = await upsert(gql, "ann", **everything)
    assert without_time(reset) == without_time({"userId": "ann", **DEFAULTS})
    # The first save of a user may reset too: it saves the defaults.
    first = await upsert(gql, "bob", temperature=None, maxTokens=None)
    assert without_time(first) == without_time({"userId": "bob", **DEFAULTS})
    assert first["updatedAt"] is not None


async def test_an_empty_upsert_saves_the_defaults(gql: GraphQLClient) -> None:
    saved = await upsert(gql, "bob")
    assert without_time(saved) == without_time({"userId": "bob", **DEFAULTS})
    assert saved["updatedAt"] is not None
    assert await read(gql, "bob") == saved


@pytest.mark.parametrize(
    "input",
    [
        {"temperature": -0.01},
        {"temperature": 2.01},
        {"maxTokens": 0},
        {"maxTokens": 32001},
        {"maxTokens": -5},
        {"enabledTools": ["search", " "]},
        {"enabledAgents": [""]},
    ],
)
async def test_rejected_upserts_write_nothing(gql: GraphQLClient, input: dict[str, Any]) -> None:
    # Valid fields alongside the bad one: none of them may be kept.
    bad = {"model": "changed", "enabledTools": ["x"], **input}
    assert await gql.error_code(UPSERT, {"u": "newcomer", "i": bad}) == "BAD_USER_INPUT"
    assert await read(gql, "newcomer") == {"userId": "newcomer", **DEFAULTS}

    saved = await upsert(gql, "ann", model="kept", temperature=1.0, maxTokens=100)
    assert await gql.error_code(UPSERT, {"u": "ann", "i": bad}) == "BAD_USER_INPUT"
    assert await read(gql, "ann") == saved


@pytest.mark.parametrize("user_id", ["", "   "])
async def test_blank_user_id_is_rejected(gql: GraphQLClient, user_id: str) -> None:
    body = {"u": user_id, "i": {"model": "gpt-x"}}
    assert await gql.error_code(UPSERT, body) == "BAD_USER_INPUT"
    assert await read(gql, user_id) == {"userId": user_id, **DEFAULTS}


@pytest.mark.parametrize(
    "input",
    [{"temperature": 0.0}, {"temperature": 2.0}, {"maxTokens": 1}, {"maxTokens": 32000}],
)
async def test_boundaries_are_accepted(gql: GraphQLClient, input: dict[str, Any]) -> None:
    saved = await upsert(gql, "ann", **input)
    ((name, value),) = input.items()
    assert saved[name] == value
    assert (await read(gql, "ann"))[name] == value


async def test_settings_are_per_user(gql: GraphQLClient) -> None:
    ann = await upsert(gql, "ann", model="ann-model", enabledTools=["a"], temperature=1.5)
    bob = await upsert(gql, "bob", model="bob-model", maxTokens=10)
    assert await read(gql, "carol") == {"userId": "carol", **DEFAULTS}
    assert await read(gql, "ann") == ann
    assert await read(gql, "bob") == bob
    assert (ann["temperature"], ann["maxTokens"]) == (1.5, 2000)
    assert (bob["temperature"], bob["maxTokens"], bob["enabledTools"]) == (0.7, 10, [])
    # User ids are exact: no trimming or case folding.
    assert (await read(gql, "Ann"))["updatedAt"] is None


async def test_updates_that_leave_them_out_keep_the_defaults(gql: GraphQLClient) -> None:
    for input in ({"model": "gpt-x"}, {"enabledTools": ["search"]}, {}):
        saved = await upsert(gql, "ann", **input)
        assert (saved["temperature"], saved["maxTokens"]) == (0.7, 2000), input
    chosen = await upsert(gql, "ann", maxTokens=500)
    assert (chosen["temperature"], chosen["maxTokens"]) == (0.7, 500)
    kept = await upsert(gql, "ann", temperature=1.2, model=None)
    assert (kept["temperature"], kept["maxTokens"]) == (1.2, 500)
    assert await read(gql, "ann") == kept


async def test_created_at_is_the_first_save_and_updated_at_the_last(gql: GraphQLClient) -> None:
    first = await upsert(gql, "ann", model="gpt-x")
    assert first["createdAt"] is not None
    assert first["updatedAt"] == first["createdAt"]
    assert await read(gql, "ann") == first
    previous = first
    for input in ({"maxTokens": 100}, {}, {"temperature": None}):
        changed = await upsert(gql, "ann", **input)
        assert changed["createdAt"] == first["createdAt"], input
        when = datetime.fromisoformat(changed["updatedAt"])
        assert when > datetime.fromisoformat(previous["updatedAt"]), input
        assert await read(gql, "ann") == changed
        previous = changed
    # A refused update changes neither.
    body = {"u": "ann", "i": {"maxTokens": 0}}
    assert await gql.error_code(UPSERT, body) == "BAD_USER_INPUT"
    assert await read(gql, "ann") == previous


async def test_a_setting_never_chosen_follows_the_default(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The defaults apply when read: a user who never chose gets a changed default too,
    # one who chose keeps their choice.
    await upsert(gql, "ann", model="gpt-x")
    await upsert(gql, "bob", maxTokens=1000, temperature=0.1)
    monkeypatch.setattr(chat_settings, "DEFAULT_MAX_TOKENS", 3000)
    monkeypatch.setattr(chat_settings, "DEFAULT_TEMPERATURE", 1.0)
    for user in ("ann", "newcomer"):
        found = await read(gql, user)
        assert (found["temperature"], found["maxTokens"]) == (1.0, 3000), user
    bob = await read(gql, "bob")
    assert (bob["temperature"], bob["maxTokens"]) == (0.1, 1000)
    reset = await upsert(gql, "bob", maxTokens=None)
    assert (reset["temperature"], reset["maxTokens"]) == (0.1, 3000)
