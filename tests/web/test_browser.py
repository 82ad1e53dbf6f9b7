"""GraphiQL and the live viewer in a real headless Chromium (Debian's package, driven by
Playwright) against the app served by uvicorn, with the network cut: every request for
anywhere but this machine is refused. Screenshots go to test-output/screenshots/.

Every wait is on a condition in the page, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, async_playwright
from playwright.async_api import TimeoutError as PageTimeout

from agent_sim.agent import ANSWER, CLARIFICATION, REPLY, STEPS, TOOLS, Pace, SimulatedAgent
from agent_sim.client import Api
from tests.graphql_client import GraphQLClient

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
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
CREATE = """mutation($title: String!) {
  createConversation(input: {title: $title, owner: {participantId: "dev"}}) { id } }"""
SEND = """mutation($c: ID!, $text: String!) {
  sendMessage(input: {conversationId: $c, senderId: "dev", content: $text}) { id } }"""
EDIT = """mutation($m: ID!, $text: String!) {
  editMessage(input: {messageId: $m, content: $text}) { id } }"""


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
    if not CHROMIUM.is_file():
        pytest.fail(f"needs Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return CHROMIUM


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
    base = "http" + server_url.removeprefix("ws").removesuffix("/graphql")
    found = Tab(await context.new_page(), base, database_url.split(":")[0].split("+")[0])

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

    await run_tab(page, 2, "Activity")  # over WebSocket
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
    await page.evaluate("() => { live.delay = 3000; live.socket.close(); }")
    await page.locator('#status[data-state="reconnecting"]').wait_for()
    await gql.data(SEND, {"c": conversation, "text": "sent while you were away"})
    await page.locator(".message", has_text="sent while you were away").wait_for()
    await page.locator('#status[data-state="live"]').wait_for()
    tab.stayed_offline()
