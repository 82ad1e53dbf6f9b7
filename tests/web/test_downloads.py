"""GET /conversations/{id}/export and /markdown: the GraphQL fields' answers, streamed,
with /graphql's authentication and visibility; and the fields' own size bound."""

from __future__ import annotations

import asyncio
import json
import uuid
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.types import Message, Scope

import schema.lifecycle
from config import Settings
from resolvers.errors import RETRY_AFTER_SECONDS
from resolvers.ids import to_global_id
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_key, as_user, bearer, new_key, token
from tests.lifecycle_graph import raw, rich_conversation
from tests.schema.test_fork_export import (
    DELETE,
    EXPORT,
    IMPORT,
    MARKDOWN,
    without_event_log_position,
)
from tests.web.conftest import client_of
from web.app import create_app


async def download(
    http: httpx.AsyncClient, conversation: str, name: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await http.get(f"/conversations/{conversation}/{name}", headers=headers)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    [error] = response.json()["errors"]
    found: dict[str, Any] = error
    return found


async def test_the_streamed_export_is_conversation_export_and_imports_back(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    conversation = (await rich_conversation(gql))["conversation"]
    answered = (await gql.data(EXPORT, {"c": conversation}))["conversationExport"]
    response = await download(http, conversation, "export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    filename = f"conversation-{raw(conversation)}.json"
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    streamed = response.json()
    assert streamed == answered
    # Branches, tool calls, traces with spans, and the shared rows they point at.
    assert len(streamed["tables"]["messages"]) == 5
    assert all(streamed["tables"][name] for name in ("tool_calls", "spans", "components"))
    await gql.data(DELETE, {"id": conversation})
    await gql.data(IMPORT, {"d": streamed, "r": False})
    again = (await gql.data(EXPORT, {"c": conversation}))["conversationExport"]
    assert without_event_log_position(again) == without_event_log_position(answered)


async def test_the_streamed_markdown_is_conversation_markdown(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    conversation = (await rich_conversation(gql, "Battery sources"))["conversation"]
    answered = (await gql.data(MARKDOWN, {"c": conversation}))["conversationMarkdown"]
    # Its plain UUID names it as well as its global id.
    response = await download(http, str(raw(conversation)), "markdown")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.headers["content-disposition"].endswith(f'{raw(conversation)}.md"')
    assert response.text == answered
    assert answered.startswith("# Battery sources\n")
    assert "## Traces" in answered


async def test_an_id_that_is_no_conversations_is_a_bad_request(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    message = (await factories.message(gql, conversation))["id"]
    for name in ("export", "markdown"):
        error = error_of(await download(http, message, name), 400)
        assert error["extensions"] == {"code": "BAD_USER_INPUT"}
        assert error["message"].startswith("expected a Conversation id, got a Message id")
        garbled = error_of(await download(http, "not-an-id", name), 400)
        assert garbled["message"] == "'not-an-id' is not a valid id"


async def test_a_conversation_you_cannot_see_is_not_found_like_a_missing_one(
    secured_http: httpx.AsyncClient,
) -> None:
    ada = as_user(secured_http, "ada")
    conversation = (await factories.conversation(ada, owner={"participantId": "ada"}))["id"]
    missing = to_global_id("Conversation", uuid.uuid4())
    bob = bearer(token("bob"))
    for name in ("export", "markdown"):
        assert (await download(secured_http, conversation, name, ada.headers)).status_code == 200
        hidden = await download(secured_http, conversation, name, bob)
        absent = await download(secured_http, missing, name, bob)
        assert error_of(hidden, 404)["extensions"] == {"code": "NOT_FOUND"}
        # Nothing tells a stranger that it exists: the same body but for the id it names.
        assert hidden.text.replace(str(raw(conversation)), "?") == absent.text.replace(
            str(raw(missing)), "?"
        )
        anonymous = await download(secured_http, conversation, name)
        assert error_of(anonymous, 401)["extensions"] == {"code": "UNAUTHENTICATED"}
        assert anonymous.headers["www-authenticate"] == "Bearer"


async def test_an_api_key_needs_the_read_scope(secured_http: httpx.AsyncClient) -> None:
    ada = as_user(secured_http, "ada")
    conversation = (await factories.conversation(ada, owner={"participantId": "ada"}))["id"]
    writer, _ = await new_key(ada, ["WRITE"])
    reader, _ = await new_key(ada, ["READ"])
    refused = await download(
        secured_http, conversation, "export", as_key(secured_http, writer).headers
    )
    assert error_of(refused, 403)["extensions"]["code"] == "FORBIDDEN"
    allowed = await download(
        secured_http, conversation, "export", as_key(secured_http, reader).headers
    )
    assert allowed.json()["conversationId"] == str(raw(conversation))


@pytest.mark.parametrize(("field", "name"), [(EXPORT, "export"), (MARKDOWN, "markdown")])
async def test_past_their_bound_the_fields_point_at_the_stream(
    gql: GraphQLClient,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
    name: str,
) -> None:
    conversation = (await rich_conversation(gql))["conversation"]
    monkeypatch.setattr(schema.lifecycle, "GRAPHQL_MAX_ROWS", 3)
    error = await gql.error(field, {"c": conversation})
    path = f"/conversations/{raw(conversation)}/{name}"
    assert error["extensions"] == {"code": "TOO_LARGE", "maxRows": 3, "download": path}
    assert error["message"] == (
        f"the conversation holds more than 3 rows: GET {path} streams it whole"
    )
    assert (await http.get(path)).status_code == 200
    small = (await factories.conversation(gql))["id"]
    assert (await gql.data(field, {"c": small})) is not None


async def test_a_client_that_goes_away_leaves_no_connection_behind(
    gql: GraphQLClient, app: Starlette
) -> None:
    """The first rows are read (and a pooled connection held) before the response
    starts; a client gone by then must not leave them to the garbage collector."""
    conversation = (await rich_conversation(gql))["conversation"]
    scope = get(f"/conversations/{conversation}/export")
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        await asyncio.sleep(0)  # where a server waits for the client to take more

    await app(scope, receive, send)
    assert app.state.engine.pool.checkedout() == 0
    assert not any(message.get("more_body") is False for message in sent)


def get(path: str) -> Scope:
    """The ASGI scope of GET `path`, for clients that drive the app themselves."""
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("threadline.test", 80),
        "client": ("127.0.0.1", 1234),
    }


class SlowClient:
    """A download's client, driving the app through ASGI, that takes the response's head
    and first chunk, then reads nothing more until `read_on` is set (the server's send
    waits, as uvicorn's does on a client that reads slowly), or goes away on `leave`."""

    def __init__(self, app: Starlette, path: str) -> None:
        self.sent: list[Message] = []
        self.streaming = asyncio.Event()
        self.read_on = asyncio.Event()
        self.leave = asyncio.Event()
        self.task = asyncio.create_task(app(get(path), self.receive, self.send))

    async def answered(self) -> int:
        """The status, once the download streams (holding its slot) or has been
        answered whole (refused)."""
        streaming = asyncio.create_task(self.streaming.wait())
        await asyncio.wait([self.task, streaming], timeout=10, return_when=FIRST_COMPLETED)
        streaming.cancel()
        status: int = self.sent[0]["status"]
        return status

    async def receive(self) -> Message:
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message.get("more_body"):
            self.streaming.set()
            await self.read_on.wait()

    async def ended(self) -> None:
        await asyncio.wait_for(self.task, 10)

    @property
    def finished(self) -> bool:
        return any(message.get("more_body") is False for message in self.sent)

    @property
    def body(self) -> bytes:
        return b"".join(message.get("body", b"") for message in self.sent[1:])


@pytest.fixture
async def one_slot(
    settings: Settings, http: httpx.AsyncClient
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """An app that runs one download at once, with a pool of two that fails at once when
    empty (on PostgreSQL; SQLite keeps its own pool): two downloads holding connections
    would leave /graphql none. No rechecks of the log, which take one too."""
    capped = replace(
        settings,
        auto_migrate=False,
        downloads_max_concurrent=1,
        database_pool_size=2,
        database_pool_timeout_seconds=0,
        live_recheck_seconds=0,
    )
    application = create_app(capped)
    async with LifespanManager(application), client_of(application) as client:
        yield application, client


async def test_past_the_cap_downloads_are_refused_at_once_and_graphql_answers(
    gql: GraphQLClient, one_slot: tuple[Starlette, httpx.AsyncClient]
) -> None:
    app, client = one_slot
    conversation = (await rich_conversation(gql))["conversation"]
    answered = (await gql.data(EXPORT, {"c": conversation}))["conversationExport"]
    path = f"/conversations/{conversation}/export"
    slow = [SlowClient(app, path) for _ in range(3)]
    # The first streams and holds its slot until read; the others wait for none.
    assert [await each.answered() for each in slow] == [200, 503, 503]
    refused = await asyncio.wait_for(download(client, conversation, "markdown"), 5)
    error = error_of(refused, 503)
    assert refused.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert error == {
        "message": "too many downloads at once (this server runs 1); retry in a moment",
        "extensions": {"code": "UNAVAILABLE", "retryAfter": RETRY_AFTER_SECONDS},
    }
    listed = await GraphQLClient(client).data("{ conversations { totalCount } }")
    assert listed["conversations"]["totalCount"] >= 1
    first = slow[0]
    first.read_on.set()
    await first.ended()
    assert first.finished
    assert json.loads(first.body) == answered
    after = await download(client, conversation, "export")
    assert after.status_code == 200
    assert after.json() == answered


async def test_a_download_gives_its_slot_back_however_it_ends(
    gql: GraphQLClient, one_slot: tuple[Starlette, httpx.AsyncClient]
) -> None:
    app, client = one_slot
    conversation = (await rich_conversation(gql))["conversation"]
    missing = to_global_id("Conversation", uuid.uuid4())
    for _ in range(2):  # refused before the first byte
        assert (await download(client, missing, "export")).status_code == 404
    gone = SlowClient(app, f"/conversations/{conversation}/markdown")
    assert await gone.answered() == 200
    gone.leave.set()
    await gone.ended()
    assert not gone.finished  # cut short
    assert (await download(client, conversation, "markdown")).status_code == 200
    assert app.state.engine.pool.checkedout() == 0
