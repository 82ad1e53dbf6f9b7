"""Subscribers of the same live stream share one execution per event."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from subscriptions.shared import SharedStreams
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user, bearer, token
from tests.polling import until
from tests.ws_client import GraphQLWebSocket, connect

EVENTS = """subscription($c: ID!, $after: String) {
  conversationEvents(conversationId: $c, after: $after) {
    seq cursor ... on MessageEvent { message { content } } }
}"""
ACTIVITY = "subscription { conversationsActivity { kind conversation { id } } }"


def streams(app: Starlette) -> SharedStreams:
    shared: SharedStreams = app.state.schema.shared_streams
    return shared


def members(app: Starlette) -> list[int]:
    return sorted(len(stream.members) for stream in streams(app).running.values())


async def live(
    gql: GraphQLClient, conversation: str, *subscribers: tuple[GraphQLWebSocket, str]
) -> int:
    """Send messages until every subscriber hears one (its stream is live); the seq heard."""
    for attempt in range(50):
        await factories.message(gql, conversation, content=f"warm-up {attempt}")
        try:
            heard = [
                (await ws.next(op, wait=0.2))["conversationEvents"]["seq"] for ws, op in subscribers
            ]
        except (TimeoutError, AssertionError):
            continue
        return max(heard)
    raise AssertionError("the subscriptions never went live")


async def test_same_subscription_same_variables_share_one_execution(
    app: Starlette, server_url: str, gql: GraphQLClient
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    async with connect(server_url) as first, connect(server_url) as second:
        ops = [await ws.subscribe(EVENTS, {"c": conversation}) for ws in (first, second)]
        await until(lambda: members(app) == [2])
        await live(gql, conversation, (first, ops[0]), (second, ops[1]))
        await factories.message(gql, conversation, content="for both")
        for ws, op in zip((first, second), ops, strict=True):
            assert (await ws.next(op))["conversationEvents"]["message"] == {"content": "for both"}
        # One listener on the conversation's channel for the two of them.
        assert len(app.state.bus.hub._channels) == 1

        # The first leaves: the second keeps hearing; the last to leave ends the stream.
        await first.stop(ops[0])
        await until(lambda: members(app) == [1])
        await factories.message(gql, conversation, content="for the second")
        heard = await second.next(ops[1])
        assert heard["conversationEvents"]["message"] == {"content": "for the second"}
        await second.stop(ops[1])
        await until(lambda: members(app) == [])
        await until(lambda: not app.state.bus.hub._channels)


async def test_a_late_subscriber_hears_what_follows_its_joining(
    app: Starlette, server_url: str, gql: GraphQLClient
) -> None:
    conversation = (await factories.conversation(gql))["id"]
    async with connect(server_url) as early, connect(server_url) as late:
        early_op = await early.subscribe(EVENTS, {"c": conversation})
        await live(gql, conversation, (early, early_op))
        late_op = await late.subscribe(EVENTS, {"c": conversation})
        await until(lambda: members(app) == [2])
        await factories.message(gql, conversation, content="after both")
        for ws, op in ((early, early_op), (late, late_op)):
            event = (await ws.next(op))["conversationEvents"]
            assert event["message"] == {"content": "after both"}
            await ws.nothing_more(op)


async def test_replays_and_other_variables_run_on_their_own(
    app: Starlette, server_url: str, gql: GraphQLClient
) -> None:
    one = (await factories.conversation(gql))["id"]
    other = (await factories.conversation(gql))["id"]
    query = "query($c: ID!) { conversation(id: $c) { lastEventCursor } }"
    before = (await gql.data(query, {"c": one}))["conversation"]["lastEventCursor"]
    await factories.message(gql, one, content="logged")
    async with connect(server_url) as ws:
        await ws.subscribe(EVENTS, {"c": one})
        await ws.subscribe(EVENTS, {"c": other})
        await ws.subscribe(ACTIVITY)
        await until(lambda: members(app) == [1, 1, 1])
        # A replay from a cursor is the subscriber's own: it is not shared.
        replaying = await ws.subscribe(EVENTS, {"c": one, "after": before})
        replayed = await ws.next(replaying)
        assert replayed["conversationEvents"]["message"] == {"content": "logged"}
        assert members(app) == [1, 1, 1]


async def test_different_principals_do_not_share(
    secured_app: Starlette, secured_server_url: str, secured_http: httpx.AsyncClient
) -> None:
    alice = as_user(secured_http, "alice")
    conversation = await factories.conversation(
        alice, owner={"participantId": "alice"}, participants=[{"participantId": "bob"}]
    )
    async with (
        connect(secured_server_url, bearer(token("alice"))) as alice_ws,
        connect(secured_server_url, bearer(token("bob"))) as bob_ws,
        connect(secured_server_url, bearer(token("alice"))) as alice_again,
    ):
        for ws in (alice_ws, bob_ws, alice_again):
            await ws.subscribe(EVENTS, {"c": conversation["id"]})
        await until(lambda: members(secured_app) == [1, 2])
