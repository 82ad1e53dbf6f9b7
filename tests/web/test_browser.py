"""GraphiQL and the live viewer in a real headless Chromium (Debian's package, driven by
Playwright) against the app served by uvicorn, with the network cut: every request for
anywhere but this machine is refused. Screenshots go to test-output/screenshots/.

Every wait is on a condition in the page, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from playwright.async_api import Browser, Page, Route, async_playwright
from playwright.async_api import TimeoutError as PageTimeout
from sqlmodel import col, select
from starlette.applications import Starlette

from agent_sim.agent import ANSWER, CLARIFICATION, REPLY, STEPS, TOOLS, Pace, SimulatedAgent
from agent_sim.client import Api
from config import Settings
from models import Event
from resolvers.ids import parse_id
from subscriptions.streams import decode_cursor, encode_cursor
from tests.conftest import served
from tests.graphql_client import GraphQLClient
from tests.identities import as_user, new_key
from tests.web.browser_gate import browser_required, find_chromium, missing_browser
from tests.web.conftest import client_of
from web.app import create_app

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
LOCAL = frozenset({"127.0.0.1", "localhost"})
WAIT_MS = 20_000
# Without the background-networking switches Chromium keeps calling Google's services;
# the resolver rule makes every other host unknown, so the network is cut for real.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
CREATE = """mutation($title: String!, $owner: String! = "dev") {
  createConversation(input: {title: $title, owner: {participantId: $owner}}) { id } }"""
SEND = """mutation($c: ID!, $text: String!, $sender: String! = "dev") {
  sendMessage(input: {conversationId: $c, senderId: $sender, content: $text}) { id } }"""
EDIT = """mutation($m: ID!, $text: String!) {
  editMessage(input: {messageId: $m, content: $text}) { id } }"""
INGEST = "mutation($batch: [IngestItem!]!) { ingest(batch: $batch) { ok } }"
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { id } }"
# The viewer's subscriptions, by how their documents start.
EVENTS = "subscription ViewerEvents"
ACTIVITY = "subscription ViewerActivity"
BURST = 30  # events of one transaction, far more than a subscriber queue of one holds
# Every graphql-transport-ws message the page sends and receives, in order, and the
# sockets it opens: recorded from before the viewer's script runs.
RECORD_WIRE = """(() => {
  window.wire = [];
  window.sockets = 0;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.sockets += 1;
      this.addEventListener("message", (m) => window.wire.push({received: JSON.parse(m.data)}));
    }
    send(data) {
      window.wire.push({sent: JSON.parse(data)});
      super.send(data);
    }
  };
})();"""
# Every state the status takes, however briefly: each change's old value, then the last.
RECORD_STATES = """() => {
  window.earlierStates = [];
  new MutationObserver((records) => {
    for (const record of records) window.earlierStates.push(record.oldValue);
  }).observe(document.getElementById("status"), {
    attributes: true, attributeFilter: ["data-state"], attributeOldValue: true,
  });
}"""
STATES = "() => [...window.earlierStates, document.getElementById('status').dataset.state]"


@dataclass
class Tab:
    """A page of a fresh browser context, and what it tried to fetch from elsewhere."""

    page: Page
    base: str
    backend: str
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def screenshot(self, name: str) -> None:
        await self.page.screenshot(path=SCREENSHOTS / f"{name}-{self.backend}.png")

    def stayed_offline(self) -> None:
        assert self.refused == [], f"the page asked the internet for {self.refused}"
        assert self.errors == [], f"the page failed: {self.errors}"


@pytest.fixture(scope="module")
def chromium() -> Path:
    found = find_chromium(os.environ)
    assert found is not None, "tests/web/conftest.py skips (or fails) a test without it"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return found


@pytest.fixture(scope="module")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def tab(
    browser: Browser, server_url: str, database_url: str, http: httpx.AsyncClient
) -> AsyncIterator[Tab]:
    """A page on an empty database; requests for other hosts are refused and recorded."""
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    found = Tab(
        await context.new_page(), base_of(server_url), database_url.split(":")[0].split("+")[0]
    )

    async def only_local(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL:
            await route.continue_()
        else:
            found.refused.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_local)
    found.page.set_default_timeout(WAIT_MS)
    found.page.on("pageerror", lambda error: found.errors.append(str(error)))
    yield found
    await context.close()


def base_of(socket_url: str) -> str:
    """The pages' address of the app served at this WebSocket URL."""
    return "http" + socket_url.removeprefix("ws").removesuffix("/graphql")


@pytest.fixture
async def impatient(
    settings: Settings, http: httpx.AsyncClient
) -> AsyncIterator[tuple[str, GraphQLClient, Starlette]]:
    """A second app on the test database (emptied by `http`) whose subscribers may fall
    one event behind: a burst of events ends their subscriptions with RESUME_REQUIRED.
    Writes go through it, so that its hub hears them on any broadcast backend."""
    application = create_app(replace(settings, subscriber_queue_size=1, auto_migrate=False))
    async with (
        LifespanManager(application),
        served(application) as url,
        client_of(application) as client,
    ):
        yield base_of(url), GraphQLClient(client), application


def operations(wire: list[dict[str, Any]], operation: str) -> list[str]:
    """The ids under which the page sent this subscription, in order."""
    return [
        m["sent"]["id"]
        for m in wire
        if m.get("sent", {}).get("type") == "subscribe"
        and m["sent"]["payload"]["query"].startswith(operation)
    ]


def received(wire: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    """What the server sent for these operations, in order."""
    return [m["received"] for m in wire if m.get("received", {}).get("id") in ids]


def wire_subscription(wire: list[dict[str, Any]], operation_id: str) -> dict[str, Any]:
    """The payload of the subscription the page sent under this id."""
    (payload,) = [
        m["sent"]["payload"]
        for m in wire
        if m.get("sent", {}).get("type") == "subscribe" and m["sent"]["id"] == operation_id
    ]
    return payload


def replayed(
    wire: list[dict[str, Any]], ids: list[str], conversation_id: uuid.UUID
) -> tuple[list[int], list[tuple[str, str]]]:
    """The sequence numbers of the events these subscriptions delivered, in order, and for
    each error that ended one: (the cursor it gave, the `after` the next one was sent with).
    Every error must be RESUME_REQUIRED with a cursor."""
    delivered: list[int] = []
    resumed: list[tuple[str, str]] = []
    given: str | None = None
    for message in wire:
        sent, got = message.get("sent", {}), message.get("received", {})
        if sent.get("type") == "subscribe" and sent["id"] in ids and given is not None:
            resumed.append((given, sent["payload"]["variables"]["after"]))
            given = None
        if got.get("id") not in ids or got["type"] == "complete":
            continue
        assert got["type"] == "next", got
        if errors := got["payload"].get("errors"):
            assert [e["extensions"]["code"] for e in errors] == ["RESUME_REQUIRED"], errors
            given = errors[0]["extensions"]["cursor"]
        else:
            cursor = got["payload"]["data"]["conversationEvents"]["cursor"]
            delivered.append(decode_cursor(cursor, conversation_id))
    return delivered, resumed


def follows(seen: list[str], expected: list[str]) -> bool:
    """Whether `expected` occurs in `seen` in this order (other states between)."""
    rest = iter(seen)
    return all(state in rest for state in expected)


async def write_a_burst(gql: GraphQLClient, conversation: str) -> None:
    """BURST messages in one transaction: their events reach the hub at once."""
    message = {"conversationId": conversation, "senderId": "dev"}
    burst = [
        {"clientEventId": f"m{n}", "message": {**message, "content": str(n)}} for n in range(BURST)
    ]
    assert all(item["ok"] for item in (await gql.data(INGEST, {"batch": burst}))["ingest"])


async def write_until_stopped(page: Page, alice: GraphQLClient, conversation: str) -> None:
    """Messages until the page's status says it stopped: a subscription of a revoked key
    ends at its next event once the server has heard of the revocation."""
    for n in range(40):
        await alice.data(SEND, {"c": conversation, "text": f"revoked {n}", "sender": "alice"})
        try:
            await page.locator('#status[data-state="stopped"]').wait_for(timeout=500)
            return
        except PageTimeout:
            continue
    raise AssertionError("the page never stopped")


async def logged_seqs(application: Starlette, conversation_id: uuid.UUID) -> list[int]:
    """The sequence numbers of the conversation's events in the event log."""
    statement = (
        select(Event.seq)
        .where(col(Event.conversation_id) == conversation_id)
        .order_by(col(Event.seq))
    )
    async with application.state.engine.connect() as connection:
        return list((await connection.execute(statement)).scalars())


async def graphiql_result(page: Page, text: str, wait_ms: float = WAIT_MS) -> None:
    await page.wait_for_function(
        "t => document.querySelector('.result-window')?.textContent.includes(t)",
        arg=text,
        timeout=wait_ms,
    )


async def run_tab(page: Page, number: int, operation: str) -> None:
    """Open an example tab and run it, once GraphiQL has read the tab's operation name
    (it does so 100 ms after the editor changes; a click before that runs the old one)."""
    await page.locator(".graphiql-tab").nth(number).click()
    await page.wait_for_function(
        "name => document.querySelector('.graphiql-query-editor .CodeMirror')"
        "?.CodeMirror.operationName === name",
        arg=operation,
    )
    await page.locator(".graphiql-execute-button").click()


async def test_graphiql_runs_a_query_and_a_subscription_offline(
    tab: Tab, gql: GraphQLClient
) -> None:
    await gql.data(CREATE, {"title": "Seen in GraphiQL"})
    page = tab.page
    await page.goto(f"{tab.base}/graphql")
    await run_tab(page, 0, "ConversationPage")
    await graphiql_result(page, '"title": "Seen in GraphiQL"')
    await graphiql_result(page, '"messages"')

    await run_tab(page, 1, "Usage")
    await graphiql_result(page, '"usage": []')  # no spans yet: no model to group
    await graphiql_result(page, '"totalCount": 1')

    await run_tab(page, 2, "FailedToolCalls")  # with the variables the page set
    await graphiql_result(page, '"mostFailing": []')  # no tool spans yet
    await graphiql_result(page, '"toolCalls"')

    await run_tab(page, 3, "Activity")  # over WebSocket
    # Activity has no cursor: a conversation made before the server has the subscription
    # is not shown, so make one until one is.
    for attempt in range(1, 40):
        title = f"Live in GraphiQL {attempt}"
        await gql.data(CREATE, {"title": title})
        try:
            await graphiql_result(page, title, wait_ms=1000)
            break
        except PageTimeout:
            continue
    await graphiql_result(page, '"kind": "CONVERSATION_CREATED"')
    await tab.screenshot("graphiql")
    tab.stayed_offline()


async def test_the_viewer_shows_a_simulated_run_live(tab: Tab) -> None:
    page = tab.page
    await page.goto(tab.base)
    await page.locator('#status[data-state="live"]').wait_for()
    # Every text the answer shows, as the page showed it, to see it grow chunk by chunk.
    await page.evaluate("""() => {
      window.seen = [];
      new MutationObserver(() => {
        const node = document.querySelector('.message[data-status="STREAMING"] .content');
        if (node && node.textContent !== window.seen.at(-1)) window.seen.push(node.textContent);
      }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    async with Api.open(f"{tab.base}/graphql") as api:
        # human=True: nobody answers the agent's question but the person at the viewer.
        agent = SimulatedAgent(api, Pace(0.4), human=True)
        run = asyncio.create_task(agent.run("Simulated run 1"))
        try:
            await page.locator("#conversations a", has_text="Simulated run 1").click()
            await page.locator("#answer-form", has_text=CLARIFICATION).wait_for()
            await tab.screenshot("viewer-question")
            await page.locator("#answer").fill(REPLY)
            await page.locator("#answer-form button").click()

            await page.locator('.tool-call[data-status="RUNNING"]').first.wait_for()
            await page.locator('.bar[data-running="true"]').first.wait_for()
            await page.locator('.message[data-status="STREAMING"] .content').wait_for()
            await run
        finally:
            run.cancel()
    answer = "".join(ANSWER)
    await page.locator('.message[data-status="COMPLETE"]', has_text=answer).wait_for()
    await page.locator('.waterfall[data-status="OK"]').wait_for()
    await page.locator('.plan[data-status="COMPLETED"]').wait_for()

    assert await page.locator('.step[data-status="COMPLETED"]').count() == len(STEPS)
    calls = page.locator('.tool-call[data-status="COMPLETED"]')
    assert await calls.count() == len(TOOLS)
    # The agent's root span, "ask user", one span a tool and "write answer".
    assert await page.locator(".span-row").count() == 3 + len(TOOLS)
    seen: list[str] = await page.evaluate("window.seen")
    partial = [text for text in seen if text and text != answer]
    assert len(partial) >= 3, seen  # the answer grew in the page while it streamed
    assert all(answer.startswith(text) for text in seen), seen
    await tab.screenshot("viewer")
    tab.stayed_offline()


async def test_the_viewer_marks_branches(tab: Tab, gql: GraphQLClient) -> None:
    conversation = (await gql.data(CREATE, {"title": "Forked"}))["createConversation"]["id"]
    first = (await gql.data(SEND, {"c": conversation, "text": "first try"}))["sendMessage"]["id"]
    await gql.data(EDIT, {"m": first, "text": "second try"})
    await tab.page.goto(f"{tab.base}/#/c/{conversation}")
    await tab.page.locator(".message", has_text="first try").get_by_text("branch 1 of 2").wait_for()
    await (
        tab.page.locator(".message", has_text="second try").get_by_text("branch 2 of 2").wait_for()
    )
    tab.stayed_offline()


async def test_the_viewer_resumes_after_losing_its_connection(tab: Tab, gql: GraphQLClient) -> None:
    conversation = (await gql.data(CREATE, {"title": "Dropped"}))["createConversation"]["id"]
    page = tab.page
    await page.goto(f"{tab.base}/#/c/{conversation}")
    await page.locator("#title", has_text="Dropped").wait_for()
    await page.locator('#status[data-state="live"]').wait_for()
    # Drop the socket and reconnect only in three seconds: the message sent meanwhile can
    # reach the page only through the resumed subscription (after its last cursor).
    await page.evaluate("() => { live.backoff.next = () => 3000; live.socket.close(); }")
    await page.locator('#status[data-state="reconnecting"]').wait_for()
    await gql.data(SEND, {"c": conversation, "text": "sent while you were away"})
    await page.locator(".message", has_text="sent while you were away").wait_for()
    await page.locator('#status[data-state="live"]').wait_for()
    tab.stayed_offline()


async def test_the_viewer_resubscribes_after_the_server_ends_its_subscription(
    tab: Tab, impatient: tuple[str, GraphQLClient, Starlette]
) -> None:
    base, gql, application = impatient
    conversation = (await gql.data(CREATE, {"title": "Cut off"}))["createConversation"]["id"]
    page = tab.page
    await page.add_init_script(RECORD_WIRE)
    await page.goto(f"{base}/#/c/{conversation}")
    await page.locator("#title", has_text="Cut off").wait_for()
    await page.locator('#status[data-state="live"]').wait_for()
    await page.evaluate(RECORD_STATES)

    await write_a_burst(gql, conversation)
    # The server ends the subscription (the socket stays) and says where to resume.
    await page.wait_for_function("""() => window.wire.find((m) =>
      m.received?.payload?.errors?.[0]?.extensions?.code === "RESUME_REQUIRED"
      && m.received.payload.errors[0].extensions.cursor)?.received""")
    await page.locator('#status[data-state="live"]').wait_for()
    await gql.data(SEND, {"c": conversation, "text": "after the cut"})
    await page.locator(".message", has_text="after the cut").wait_for()
    conversation_id = parse_id(conversation, "Conversation")
    log = await logged_seqs(application, conversation_id)
    last = encode_cursor(conversation_id, log[-1])
    await page.wait_for_function(
        "last => window.wire.some((m) => m.received?.payload?.data?.conversationEvents?.cursor"
        " === last)",
        arg=last,
    )

    wire: list[dict[str, Any]] = await page.evaluate("window.wire")
    ids = operations(wire, EVENTS)
    delivered, resumed = replayed(wire, ids, conversation_id)
    # Sent again on the same socket, without a reload, from the cursor the error gave.
    assert await page.evaluate("window.sockets") == 1
    assert len(resumed) == len(ids) - 1 >= 1, wire
    assert all(given == after for given, after in resumed), resumed
    # Every logged event after the cursor the page opened with, once, in order.
    first = wire_subscription(wire, ids[0])["variables"]["after"]
    assert delivered == [seq for seq in log if seq > decode_cursor(first, conversation_id)]
    shown = await page.locator(".message .content").all_text_contents()
    assert shown == [str(n) for n in range(BURST)] + ["after the cut"]
    # The list, cut off too (it has no cursor), is followed again and read again.
    await page.wait_for_function(f"""() => window.wire.filter((m) => m.sent?.type === "subscribe"
      && m.sent.payload.query.startsWith("{ACTIVITY}")).length >= 2""")
    await page.locator("#conversations small", has_text=f"{BURST + 1} messages").wait_for()
    # It showed that it was catching up, then live again.
    await page.locator('#status[data-state="live"]').wait_for()
    states = await page.evaluate(STATES)
    assert follows(states, ["live", "retrying", "catching-up", "live"]), states
    assert states[-1] == "live", states
    tab.stayed_offline()


async def test_the_viewer_does_not_retry_what_retrying_cannot_fix(
    tab: Tab, secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    created = await alice.data(CREATE, {"title": "Revoked", "owner": "alice"})
    conversation = created["createConversation"]["id"]
    secret, key = await new_key(alice, ["READ"])
    page = tab.page
    await page.add_init_script(RECORD_WIRE)
    await page.add_init_script(
        f"localStorage.setItem('threadline.credential', {json.dumps(secret)})"
    )
    await page.clock.install()  # time flows, and a minute of it can pass at once
    await page.goto(f"{base_of(secured_server_url)}/#/c/{conversation}")
    await page.locator("#title", has_text="Revoked").wait_for()
    await page.locator('#status[data-state="live"]').wait_for()

    await alice.data(REVOKE, {"id": key})
    await write_until_stopped(page, alice, conversation)
    await page.locator("#status", has_text="this API key has been revoked").wait_for()
    await page.wait_for_function("""() => window.wire.filter((m) =>
      m.received?.payload?.errors?.[0]?.extensions?.code === "UNAUTHENTICATED").length === 2""")
    await page.clock.run_for(60_000)  # what a retry loop would send in a minute
    wire: list[dict[str, Any]] = await page.evaluate("window.wire")
    for operation in (EVENTS, ACTIVITY):
        ids = operations(wire, operation)
        errors = [m["payload"].get("errors") for m in received(wire, ids) if m["type"] == "next"]
        codes = [e[0]["extensions"]["code"] for e in errors if e]
        assert (len(ids), codes) == (1, ["UNAUTHENTICATED"]), wire
    assert await page.locator('#status[data-state="stopped"]').count() == 1

    # Loaded again, the socket is refused for the key (4403): no reconnecting in a loop.
    await page.reload()
    await page.locator('#status[data-state="stopped"]').wait_for()
    await page.clock.run_for(60_000)
    assert await page.evaluate("window.sockets") == 1
    assert await page.locator('#status[data-state="stopped"]').count() == 1
    tab.stayed_offline()


# Whether the tests above run (tests/web/browser_gate.py), checked without a browser.


def test_gate_finds_chromium_where_it_is_configured_or_on_path(tmp_path: Path) -> None:
    binary = tmp_path / "chromium"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert find_chromium({"CHROMIUM": str(binary), "PATH": ""}) == binary
    assert find_chromium({"CHROMIUM": str(tmp_path / "nothing"), "PATH": str(tmp_path)}) is None
    assert find_chromium({"PATH": f"/nonexistent:{tmp_path}"}) == binary
    assert find_chromium({"PATH": "/nonexistent"}) is None
    assert missing_browser({"PATH": str(tmp_path)}) is None
    assert missing_browser({"PATH": ""}) == (
        "BROWSER TESTS NOT RUN: no chromium on PATH; to run them: "
        "apt-get install chromium (or set CHROMIUM=/path/to/chromium)"
    )


@pytest.mark.parametrize(
    ("env", "required"),
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"CI": "1"}, True),
        ({"CI": "false"}, False),
        ({"REQUIRE_BROWSER": "1"}, True),
        ({"REQUIRE_BROWSER": "0"}, False),
    ],
)
def test_gate_requires_the_browser_in_ci(env: dict[str, str], required: bool) -> None:
    assert browser_required(env) is required


def run_without_chromium(**env: str) -> subprocess.CompletedProcess[str]:
    """This module's browser tests, in a pytest of their own on SQLite, with no Chromium
    on PATH (and none configured)."""
    unset = ("CHROMIUM", "CI", "REQUIRE_BROWSER", "TEST_DATABASE_URL", "PYTEST_ADDOPTS")
    clean = {name: value for name, value in os.environ.items() if name not in unset}
    path = clean.get("PATH", "").split(os.pathsep)
    clean["PATH"] = os.pathsep.join(d for d in path if not (Path(d) / "chromium").exists())
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-k", "not gate"]
    return subprocess.run(
        [*command, __file__],
        cwd=Path(__file__).resolve().parents[2],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_gate_skips_without_chromium_in_one_line_and_fails_in_ci() -> None:
    skipped = run_without_chromium()
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    [line] = [line for line in skipped.stdout.splitlines() if "BROWSER TESTS NOT RUN" in line]
    assert re.match(r"SKIPPED \[\d+\] tests/web/", line), line  # every test in one line
    assert "apt-get install chromium" in line
    assert " passed" not in skipped.stdout

    required = run_without_chromium(REQUIRE_BROWSER="1")
    assert required.returncode == 1, required.stdout + required.stderr
    assert re.search(r"\b\d+ errors\b", required.stdout), required.stdout
    assert "(CI or REQUIRE_BROWSER asks for them)" in required.stdout
