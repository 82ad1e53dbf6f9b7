"""A served app's sweeper ends a run whose agent went silent (issue 19), and its
subscriber hears it over a real WebSocket."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
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
# With the times the server gave each event.
TIMED_EVENTS = EVENTS.replace("seq kind", "seq kind createdAt", 1)


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
        op = await ws.subscribe(TIMED_EVENTS, {"c": conv, "after": cursor})
        await run(gql, "appendAnswerChunk", messageId=msg, text="half an ans")
        seen: list[dict[str, Any]] = []
        # Each event is waited for a bounded time (ws_client.WAIT, well below the default
        # sweep interval): only the configured sweeper can fail the run this soon.
        while not seen or seen[-1]["kind"] != "ERROR":
            seen.append((await ws.next(op))["conversationEvents"])
    at = {event["kind"]: datetime.fromisoformat(event.pop("createdAt")) for event in seen}
    reason = f"no activity from the agent within {TIMEOUT:g} seconds"
    assert summary(seen[-1]) == (
        "ERROR",
        {"error": reason, "message": {"status": "ERROR"}, "agentSession": {"status": "FAILED"}},
    )
    kinds = [event["kind"] for event in seen]
    assert kinds == ["ANSWER_CHUNK", "MESSAGE_UPDATED", "SPAN_ENDED", "TRACE_ENDED", "ERROR"]
    # Never before the timeout, by the server's own record: the failure was written at
    # least TIMEOUT after the agent's last chunk (whose event follows the moment the
    # session was last heard from), whatever the test's own pace.
    assert at["ERROR"] - at["ANSWER_CHUNK"] >= timedelta(seconds=TIMEOUT)
    found = await ended(gql, conv)
    assert found["agentSessions"] == [{"status": "FAILED", "error": reason}]
    assert [t["status"] for t in found["traces"]["nodes"]] == ["ERROR"]
    assert spans(found) == [("llm", "ERROR", reason)]
