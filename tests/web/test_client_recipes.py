"""The README's client recipes, run with the real clients in Node: graphql-ws resuming
from its last cursor after a dropped connection, and Apollo Client given the
possibleTypes the server serves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config import Settings
from tests.graphql_client import GraphQLClient
from tests.identities import bearer, token
from tests.schema.test_agent_runs import running
from tests.web.conftest import app_with
from web.possible_types import PATH

CLIENTS = Path(__file__).parents[1] / "clients"
LAST_EVENT = "query($c: ID!) { conversation(id: $c) { lastEventCursor } }"
CHUNK = """mutation($m: ID!, $t: String!) {
  appendAnswerChunk(input: {messageId: $m, text: $t}) { id } }"""
WAIT_S = 60


async def last_cursor(gql: GraphQLClient, conversation: str) -> str:
    cursor: str = (await gql.data(LAST_EVENT, {"c": conversation}))["conversation"][
        "lastEventCursor"
    ]
    return cursor


async def chunk(gql: GraphQLClient, message: str, text: str) -> None:
    await gql.data(CHUNK, {"m": message, "t": text})


async def node_lines(script: str, *args: str) -> AsyncIterator[dict[str, Any]]:
    """The JSON lines a Node script prints, as they come (the server it talks to runs on
    this event loop, so nothing here may block it)."""
    process = await asyncio.create_subprocess_exec(
        "node",
        script,
        *args,
        cwd=CLIENTS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        while line := await asyncio.wait_for(process.stdout.readline(), WAIT_S):
            yield json.loads(line)
        assert await process.wait() == 0, (await process.stderr.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_graphql_ws_resumes_from_its_last_cursor_after_a_drop(
    gql: GraphQLClient, server_url: str
) -> None:
    conversation, message, _ = await running(gql)
    start = await last_cursor(gql, conversation)
    for text in ("a", "b", "c"):  # logged before the client comes: replayed
        await chunk(gql, message, text)
    events: list[dict[str, Any]] = []
    connections = 0
    # The client drops its socket after the second event, and reconnects.
    async for line in node_lines("resume.mjs", server_url, conversation, start, "2", "5"):
        if "connected" in line:
            connections = line["connected"]
            if connections == 2:  # written while it was away or after: live
                for text in ("d", "e"):
                    await chunk(gql, message, text)
        elif "seq" in line:
            events.append(line)
    assert connections == 2
    # The five events written after `start`, each once, in order, up to the latest.
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    assert events[-1]["cursor"] == await last_cursor(gql, conversation)


@pytest.mark.parametrize(
    ("given", "stored"),
    [("with", [{"text": "Hel"}, {"text": "lo"}]), ("without", [{}, {}])],
)
async def test_apollo_keeps_fields_selected_through_an_interface_given_possible_types(
    gql: GraphQLClient, server_url: str, given: str, stored: list[dict[str, str]]
) -> None:
    conversation, message, _ = await running(gql)
    start = await last_cursor(gql, conversation)
    for text in ("Hel", "lo"):
        await chunk(gql, message, text)
    url = server_url.replace("ws://", "http://")
    lines = node_lines("apollo_possible_types.mjs", url, conversation, start, "2", given)
    events = [line async for line in lines if "cached" in line]
    assert [event["cached"]["kind"] for event in events] == ["ANSWER_CHUNK", "ANSWER_CHUNK"]
    # The server sends `text`; without possibleTypes, Apollo's cache cannot tell that an
    # AnswerChunkEvent is an EventWithText, and stores the event without it.
    assert [event["delivered"]["text"] for event in events] == ["Hel", "lo"]
    assert [{k: v for k, v in e["cached"].items() if k == "text"} for e in events] == stored


async def test_possible_types_maps_each_interface_to_its_object_types(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get(PATH)
    assert response.status_code == 200
    found = response.json()
    assert found["EventWithText"] == ["AgentExchangeEvent", "AnswerChunkEvent", "ThoughtEvent"]
    assert "AnswerChunkEvent" in found["ConversationEvent"]
    assert "Conversation" in found["Node"]
    assert not any(name.startswith("__") for name in found)


async def test_possible_types_need_the_credential_graphql_needs(
    secured_http: httpx.AsyncClient,
) -> None:
    anonymous = await secured_http.get(PATH)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "EventWithText" not in anonymous.text
    forged = await secured_http.get(PATH, headers=bearer(token("ada", key="x" * 32)))
    assert forged.status_code == 401
    signed = await secured_http.get(PATH, headers=bearer(token("ada")))
    assert signed.status_code == 200
    assert "AnswerChunkEvent" in signed.json()["EventWithText"]


async def test_possible_types_are_not_served_without_introspection(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    async with app_with(settings, introspection=False) as client:
        assert (await client.get(PATH)).status_code == 404
