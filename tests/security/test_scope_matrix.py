"""Keys with every combination of scopes, against each kind of operation.

READ lets a key query and subscribe, WRITE mutate, INGEST ingest; a key lacking the
scope an operation needs is refused with FORBIDDEN and writes nothing.
"""

from __future__ import annotations

from itertools import combinations

import httpx
import pytest

from resolvers.ids import from_global_id
from subscriptions.streams import encode_cursor
from tests import factories
from tests.identities import as_key, as_user, new_key
from tests.ws_client import connect

SCOPES = ("READ", "WRITE", "INGEST")
COMBINATIONS = [list(c) for n in (1, 2, 3) for c in combinations(SCOPES, n)]

QUERY = "{ conversations { totalCount } }"
SEND = """
mutation($c: ID!) { sendMessage(input: {conversationId: $c, senderId: "dave", content: "x"}) {
  id } }"""
INGEST = """
mutation($c: ID!) { ingest(batch: [{clientEventId: "e1", message: {conversationId: $c,
  senderId: "dave", content: "y"}}]) { ok error { code } } }"""
EVENTS = """
subscription($c: ID!, $after: String) { conversationEvents(conversationId: $c, after: $after) {
  kind } }"""
COUNT = "query($c: ID!) { conversation(id: $c) { messageCount } }"


@pytest.mark.parametrize("scopes", COMBINATIONS, ids="+".join)
async def test_a_key_may_do_what_its_scopes_say_and_nothing_else(
    secured_http: httpx.AsyncClient, secured_server_url: str, scopes: list[str]
) -> None:
    dave = as_user(secured_http, "dave")
    c = (await factories.conversation(dave, owner={"participantId": "dave"}, participants=[]))["id"]
    secret, _ = await new_key(dave, scopes)
    key = as_key(secured_http, secret)

    async def code(document: str) -> str | None:
        body = await key.execute(document, {"c": c})
        return body["errors"][0]["extensions"]["code"] if body.get("errors") else None

    def expected(scope: str) -> str | None:
        return None if scope in scopes else "FORBIDDEN"

    assert await code(QUERY) == expected("READ")
    # Without READ, only the written row's id comes back.
    assert await code(SEND) == expected("WRITE")
    assert await code(INGEST.replace("ok error { code }", "ok")) == expected("INGEST")
    written = ("WRITE" in scopes) + ("INGEST" in scopes)
    assert (await dave.data(COUNT, {"c": c}))["conversation"]["messageCount"] == written
    async with connect(secured_server_url, {"apiKey": secret}) as ws:
        # From the start of its log: the first event is there to be heard, or refused.
        start = encode_cursor(from_global_id(c)[1], 0)
        op = await ws.subscribe(EVENTS, {"c": c, "after": start})
        if "READ" in scopes:
            assert (await ws.next(op))["conversationEvents"]["kind"] == "CONVERSATION_CREATED"
        else:
            refused = await ws.message(op)
            payload = refused["payload"]
            errors = payload if refused["type"] == "error" else payload["errors"]
            assert errors[0]["extensions"]["code"] == "FORBIDDEN"
