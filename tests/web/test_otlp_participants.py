"""The user and the agent of an ingested run join its conversation, as the senders of
its messages."""

from __future__ import annotations

from typing import Any

import httpx

from tests.graphql_client import GraphQLClient
from tests.identities import as_user, new_key
from tests.web.otlp_json import conversation, event_kinds, export, genai, post, span, text
from tests.ws_client import GraphQLWebSocket


def agent_run(key: str, trace: int, question: str, **names: str) -> list[dict[str, Any]]:
    """A GenAI agent run: the invoke_agent span names the user and the agent (`names`:
    attribute -> value); its chat span, a child, names neither."""
    common = {"gen_ai.conversation.id": key}
    root = {**common, "gen_ai.operation.name": "invoke_agent", **names}
    chat = {
        **common,
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": genai(("user", [text(question)])),
        "gen_ai.output.messages": genai(("assistant", [text("On it.")])),
    }
    return [
        span(trace, 1, "invoke_agent", root, end=500),
        span(trace, 2, "chat", chat, parent=1, start=100),
    ]


def senders(found: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(m["role"], m["senderId"], m["senderType"]) for m in found["messages"]["nodes"]]


def participants(found: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(p["participantId"], p["participantType"], p["role"]) for p in found["participants"]}


async def test_the_user_and_the_agent_a_run_names_join(
    http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    await post(
        http,
        *agent_run("named", 1, "Hi", **{"user.id": "ada", "gen_ai.agent.name": "support-agent"}),
    )
    found = await conversation(gql, "named")
    # The chat span's messages are from whom its parent names.
    assert senders(found) == [("USER", "ada", "USER"), ("ASSISTANT", "support-agent", "AGENT")]
    assert participants(found) == {
        ("dev", "USER", "OWNER"),
        ("ada", "USER", "MEMBER"),
        ("support-agent", "AGENT", "MEMBER"),
    }


async def test_participants_join_an_existing_conversation_once(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: GraphQLWebSocket
) -> None:
    # A run naming nobody: the key's owner asks, the service answers.
    await post(http, *agent_run("existing", 1, "First"))
    found = await conversation(gql, "existing")
    assert senders(found) == [("USER", "dev", "USER"), ("ASSISTANT", "support-bot", "AGENT")]
    assert participants(found) == {("dev", "USER", "OWNER"), ("support-bot", "AGENT", "MEMBER")}
    # Later runs of the conversation name their user and agent (by id): they join, once.
    names = {"enduser.id": "bob", "gen_ai.agent.id": "agent-7"}
    await post(http, *agent_run("existing", 2, "Second", **names))
    await post(http, *agent_run("existing", 3, "Third", **names))
    found = await conversation(gql, "existing")
    assert participants(found) == {
        ("dev", "USER", "OWNER"),
        ("support-bot", "AGENT", "MEMBER"),
        ("bob", "USER", "MEMBER"),
        ("agent-7", "AGENT", "MEMBER"),
    }
    assert {(sender, kind) for _, sender, kind in senders(found)} <= {
        (p, t) for p, t, _ in participants(found)
    }
    # The first run's agent came with the conversation; the later ones joined it.
    kinds = await event_kinds(gql, ws, found["id"])
    assert kinds.count("PARTICIPANT_JOINED") == 2


async def test_an_agents_key_speaks_for_its_agent(secured_http: httpx.AsyncClient) -> None:
    """Telemetry sent with an agent's API key is that agent's, whatever agent it names."""
    ada = as_user(secured_http, "ada")
    ingester, _ = await new_key(ada, ["INGEST"], agent_id="weather-bot")
    run = agent_run("keyed", 1, "Hi", **{"user.id": "carol", "gen_ai.agent.name": "named"})
    response = await secured_http.post(
        "/v1/traces", json=export(*run), headers={"X-API-Key": ingester}
    )
    assert response.status_code == 200, response.text
    found = await conversation(ada, "keyed")
    assert senders(found) == [("USER", "carol", "USER"), ("ASSISTANT", "weather-bot", "AGENT")]
    assert participants(found) == {
        ("ada", "USER", "OWNER"),
        ("weather-bot", "AGENT", "MEMBER"),
        ("carol", "USER", "MEMBER"),
    }


async def test_who_telemetry_names_gains_no_access(secured_http: httpx.AsyncClient) -> None:
    """Attributes are the sender's word: bob, named as the run's user, and the agent bob
    registered, named as its agent, are listed but inactive, and see nothing."""
    ada, bob = as_user(secured_http, "ada"), as_user(secured_http, "bob")
    await bob.data('mutation { registerAgent(agentId: "bob-bot") { agentId } }')
    bots_key, _ = await new_key(bob, ["READ"], agent_id="bob-bot")
    ingester, _ = await new_key(ada, ["INGEST"])
    run = agent_run("private", 1, "secret", **{"enduser.id": "bob", "gen_ai.agent.name": "bob-bot"})
    response = await secured_http.post(
        "/v1/traces", json=export(*run), headers={"X-API-Key": ingester}
    )
    assert response.status_code == 200, response.text
    found = await conversation(ada, "private")
    assert senders(found) == [("USER", "bob", "USER"), ("ASSISTANT", "bob-bot", "AGENT")]
    listed = await ada.data(
        "query($c: ID!) { conversation(id: $c) { participants { participantId active } } }",
        {"c": found["id"]},
    )
    assert {(p["participantId"], p["active"]) for p in listed["conversation"]["participants"]} == {
        ("ada", True),
        ("bob", False),
        ("bob-bot", False),
    }
    seen = "query($c: ID!) { conversation(id: $c) { id } }"
    assert (await bob.data(seen, {"c": found["id"]}))["conversation"] is None
    as_bot = await secured_http.post(
        "/graphql",
        json={"query": seen, "variables": {"c": found["id"]}},
        headers={"X-API-Key": bots_key},
    )
    assert as_bot.json()["data"]["conversation"] is None
