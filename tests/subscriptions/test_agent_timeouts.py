"""A served app's sweeper ends a run whose agent went silent (issue 19), and its
subscriber hears it over a real WebSocket."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from asgi_lifespan import LifespanManager

from config import Settings
from tests import factories
from tests.conftest import served
from tests.graphql_client import GraphQLClient
from tests.schema.test_agent_runs import run, running
from tests.schema.test_run_endings import ended, spans
from tests.subscriptions.test_agent_events import EVENTS, LAST_EVENT, summary
from tests.ws_client import connect
from web.app import create_app

TIMEOUT = 1.0


async def test_a_silent_agent_s_run_fails_and_its_subscriber_hears(
    gql: GraphQLClient, settings: Settings
) -> None:
    conv, msg, _ = await running(gql)
    trace = (await factories.trace(gql, conv))["id"]
    await factories.span(gql, trace, name="llm", kind="LLM")
    short = replace(settings, sweep_interval_seconds=0.1, agent_stream_timeout_seconds=TIMEOUT)
    sweeper_app = create_app(short)
    async with LifespanManager(sweeper_app), served(sweeper_app) as url, connect(url) as ws:
        cursor = (await gql.data(LAST_EVENT, {"c": conv}))["conversation"]["lastEventCursor"]
        op = await ws.subscribe(EVENTS, {"c": conv, "after": cursor})
        await run(gql, "appendAnswerChunk", messageId=msg, text="half an ans")
        last_word = time.monotonic()
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["kind"] != "ERROR":
            seen.append((await ws.next(op))["conversationEvents"])
        silent_for = time.monotonic() - last_word
    reason = f"no activity from the agent within {TIMEOUT:g} seconds"
    assert summary(seen[-1]) == (
        "ERROR",
        {"error": reason, "message": {"status": "ERROR"}, "agentSession": {"status": "FAILED"}},
    )
    kinds = [event["kind"] for event in seen]
    assert kinds == ["ANSWER_CHUNK", "MESSAGE_UPDATED", "SPAN_ENDED", "TRACE_ENDED", "ERROR"]
    # The timeout, plus at most a sweep interval and the time to write and deliver.
    assert TIMEOUT <= silent_for < TIMEOUT + 1.0
    found = await ended(gql, conv)
    assert found["agentSessions"] == [{"status": "FAILED", "error": reason}]
    assert [t["status"] for t in found["traces"]["nodes"]] == ["ERROR"]
    assert spans(found) == [("llm", "ERROR", reason)]
