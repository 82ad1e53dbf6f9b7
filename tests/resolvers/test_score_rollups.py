"""The score roll-ups answer `scoreSummary(byComponentVersion: true)` exactly as the
scores and their targets' versions do, whatever wrote or deleted them, in whatever order.

After each stage every query (no filter; by names, targets, sources, conversation,
component) is read both ways: from the roll-ups (score_summaries) and from the scores
joined to their targets' versions (by_version_from_scores, the statement the roll-ups
replaced), for a caller who sees everything (score_totals) and one who sees some
conversations (score_rollups), before and after compaction. The orders that are hard
to keep right are written out in one test (with counts checked by hand) and mixed at
random in another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from config import Settings
from models.base import utcnow
from models.enums import ScoreSource, ScoreTarget
from resolvers import retention
from resolvers.analytics.score_rollups import compact
from resolvers.context import Context
from resolvers.ids import from_global_id
from resolvers.principal import Principal
from resolvers.scores import (
    ScoreQuery,
    ScoreSummary,
    by_version_from_scores,
    score_summaries,
    summarized,
)
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.schema.test_fork_export import DELETE, EXPORT, IMPORT
from tests.schema.test_scores import ADD, LINK, UPDATE
from tests.schema.test_scores import DELETE as DELETE_SCORE

# The restricted caller: the owner of the conversations factories make.
OWNER = "user-1"
DELETE_MESSAGE = "mutation($id: ID!) { deleteMessage(id: $id) { deletedIds } }"
VERSION = "id component { id }"
# (name, kind, source, values or labels to pick from)
KINDS: list[tuple[str, str, str, list[Any]]] = [
    ("quality", "NUMERIC", "HUMAN", [1, 2, 5]),
    ("faithful", "NUMERIC", "LLM", [0.1, 0.2, 0.7]),
    ("correct", "BOOLEAN", "LLM", [0, 1]),
    ("tone", "CATEGORICAL", "HUMAN", ["polite", "rude"]),
]


def _value(kind: int, pick: int) -> dict[str, Any]:
    """A score's value or label: one of its kind's choices."""
    _, score_kind, _, choices = KINDS[kind]
    picked = choices[pick % len(choices)]
    return {"label": picked} if score_kind == "CATEGORICAL" else {"value": picked}


def _shape(s: ScoreSummary, exact: bool) -> tuple[Any, ...]:
    # Sums of floats added in another order may differ in the last bits.
    average = s.average if exact or s.average is None else pytest.approx(s.average)
    extremes = (s.minimum, s.maximum)
    return (s.name, s.component_version_id, s.count, s.value_count, average, extremes, s.labels)


@dataclass
class Place:
    """What the queries of a test are about: its score names (unique to the test), a
    conversation, a component."""

    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    conversation: uuid.UUID | None = None
    component: uuid.UUID | None = None

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def queries(self) -> list[ScoreQuery]:
        names = [self.name(n) for n, *_ in KINDS]
        found = [
            ScoreQuery(names=names),
            ScoreQuery(names=names[:1] + names[3:]),
            ScoreQuery(names=names, targets=[ScoreTarget.MESSAGE, ScoreTarget.CONVERSATION]),
            ScoreQuery(names=names, sources=[ScoreSource.LLM]),
            # Everybody's scores, the other tests' too.
            ScoreQuery(),
        ]
        if self.conversation is not None:
            found.append(ScoreQuery(names=names, conversation_id=self.conversation))
        if self.component is not None:
            found.append(ScoreQuery(names=names, component_ids=[self.component]))
        return found


async def agree(app: Starlette, settings: Settings, place: Place) -> dict[Any, Any]:
    """Every query, both callers: the roll-ups' answer is the scores'. Returns the
    answer to everyone of the test's scores, as {(name, version id): summary}."""
    for principal in (Principal.development(), Principal.user(OWNER)):
        ctx = Context.create(app.state.database, settings, principal=principal)
        for q in place.queries():
            fast = await score_summaries(ctx, q, by_version=True)
            slow = summarized(await ctx.loaders.fetch(by_version_from_scores(ctx, q)))
            expected = [_shape(s, exact=False) for s in slow]
            assert [_shape(s, exact=True) for s in fast] == expected, (principal, q)
    everyone = Context.create(app.state.database, settings)
    found = await score_summaries(everyone, place.queries()[0], by_version=True)
    return {(s.name.rsplit("-", 1)[0], s.component_version_id): s for s in found}


async def compacted(app: Starlette) -> None:
    while await compact(app.state.database.sessions):
        pass


@dataclass
class Graph:
    """Writes through the API, for the tests' stages."""

    gql: GraphQLClient
    place: Place

    async def version(self, key: str, n: int, private: bool = False) -> tuple[str, uuid.UUID]:
        """A component version's id, and its component's."""
        found = await factories.mutate(
            self.gql,
            "registerComponentVersion",
            {"componentKey": key, "type": "PROMPT", "definition": {"n": n}, "private": private},
            VERSION,
        )
        return found["id"], from_global_id(found["component"]["id"])[1]

    async def score(self, target: str, kind: int, pick: int) -> str:
        name, score_kind, source, _ = KINDS[kind]
        given = {"targetId": target, "name": self.place.name(name), "kind": score_kind}
        if source == "LLM":
            given |= {"source": source, "author": "agent-1", "authorType": "AGENT"}
        added = await self.gql.data(ADD, {"i": given | _value(kind, pick)})
        return str(added["addScore"]["id"])

    async def rescore(self, score: str, kind: int, pick: int) -> None:
        await self.gql.data(UPDATE, {"id": score, "i": _value(kind, pick)})

    async def link(self, span: str, versions: list[str]) -> None:
        await self.gql.data(LINK, {"s": span, "v": versions})

    async def answer(self, conversation: str) -> str:
        found = await factories.message(
            self.gql, conversation, senderId="agent-1", senderType="AGENT", role="ASSISTANT"
        )
        return str(found["id"])


async def test_every_hard_order_keeps_the_rollups_right(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> None:
    place = Place()
    g = Graph(gql, place)
    (v1, component), (v2, _) = [await g.version(f"prompt-{place.suffix}", n) for n in (1, 2)]
    secret, _ = await g.version(f"secret-{place.suffix}", 1, private=True)
    conversation = (await factories.conversation(gql))["id"]
    place.conversation, place.component = from_global_id(conversation)[1], component
    others = (await factories.conversation(gql, owner={"participantId": "keeper"}))["id"]
    u1, u2 = from_global_id(v1)[1], from_global_id(v2)[1]

    # A judge scores a span whose links come afterwards.
    trace = (await factories.trace(gql, conversation))["id"]
    span = (await factories.span(gql, trace))["id"]
    judged = await g.score(span, 1, 2)
    await g.link(span, [v1, v2])
    found = await agree(app, settings, place)
    assert found["faithful", u1].count == found["faithful", u2].count == 1

    # A message scored before the trace that answers it uses any version; two spans
    # using v1 make it count once; the private version is the owner's alone to group by.
    asked = await g.answer(conversation)
    rated = await g.score(asked, 0, 2)
    answering = (await factories.trace(gql, conversation, messageId=asked))["id"]
    for used in ([v1], [v1, secret]):
        await factories.span(gql, answering, componentVersionIds=used)
    assert (await agree(app, settings, place))["quality", u1].count == 1
    # Another trace that used v1 answers it when it ends: v1 still counts once.
    second = (await factories.trace(gql, conversation))["id"]
    await factories.span(gql, second, componentVersionIds=[v1])
    await factories.mutate(gql, "endTrace", {"traceId": second, "messageId": asked})
    assert (await agree(app, settings, place))["quality", u1].count == 1

    # A conversation score counts once for v1, which both its traces used.
    await g.score(conversation, 2, 1)
    await g.score(others, 2, 0)
    found = await agree(app, settings, place)
    assert (found["correct", u1].count, found["correct", u1].average) == (1, 1.0)

    # A trace that used v2 answers a scored message when it ends.
    late = await g.answer(conversation)
    await g.score(late, 3, 0)
    running = (await factories.trace(gql, conversation))["id"]
    await factories.span(gql, running, componentVersionIds=[v2])
    await factories.mutate(gql, "endTrace", {"traceId": running, "messageId": late})
    again = (await factories.trace(gql, conversation, messageId=late))["id"]
    await factories.span(gql, again, componentVersionIds=[v2])
    assert (await agree(app, settings, place))["tone", u2].labels == [("polite", 1)]

    # An old trace answers the rated message too, with v1 again, and is scored itself.
    old = utcnow() - timedelta(days=40)
    expiring = (
        await factories.trace(gql, conversation, messageId=asked, startedAt=old.isoformat())
    )["id"]
    old_span = await factories.span(
        gql, expiring, componentVersionIds=[v1], startedAt=old.isoformat()
    )
    await g.score(expiring, 0, 0)
    await g.score(old_span["id"], 1, 0)
    await agree(app, settings, place)

    # Scores change and go.
    await g.rescore(rated, 0, 1)
    await gql.data(DELETE_SCORE, {"id": judged})
    found = await agree(app, settings, place)
    assert (found["quality", u1].count, found["quality", u1].maximum) == (2, 2)
    await compacted(app)
    await agree(app, settings, place)

    # Retention takes the old trace; the rated message keeps v1 through its other trace.
    policy = replace(settings, retention_trace_days=30, retention_batch_size=2)
    await retention.sweep(Context.create(app.state.database, policy, app.state.bus))
    found = await agree(app, settings, place)
    assert found["quality", u1].count == 1
    assert ("faithful", u1) not in found

    # A message deleted: its scores go, and its two traces answer nothing.
    await gql.data(DELETE_MESSAGE, {"id": late})
    assert ("tone", u2) not in await agree(app, settings, place)

    # A copy imported, then the original deleted.
    document = (await gql.data(EXPORT, {"c": conversation}))["conversationExport"]
    await gql.data(IMPORT, {"d": document, "r": True})
    copied = await agree(app, settings, place)
    assert copied["correct", u1].count == 2
    await gql.data(DELETE, {"id": conversation})
    assert (await agree(app, settings, place))["correct", u1].count == 1

    # A conversation deleted with scores of every kind whose versions its spans give:
    # one statement cascades to the scores, the links, the traces and their versions.
    asked = await g.answer(others)
    trace = (await factories.trace(gql, others, messageId=asked))["id"]
    spans = [(await factories.span(gql, trace, componentVersionIds=[v2]))["id"] for _ in "ab"]
    for target in (*spans, trace, asked):
        await g.score(target, 3, 1)
    assert (await agree(app, settings, place))["tone", u2].count == 4
    await gql.data(DELETE, {"id": others})
    assert ("tone", u2) not in await agree(app, settings, place)
    await compacted(app)
    await agree(app, settings, place)


# Random mixes of the same writes. Indexes pick among what exists (modulo its count).
@dataclass(frozen=True)
class Send:
    conversation: int


@dataclass(frozen=True)
class Start:
    conversation: int
    answers: int | None


@dataclass(frozen=True)
class AddSpan:
    trace: int
    versions: frozenset[int]


@dataclass(frozen=True)
class Link:
    span: int
    versions: frozenset[int]


@dataclass(frozen=True)
class End:
    trace: int
    answers: int


@dataclass(frozen=True)
class Rate:
    target: ScoreTarget
    index: int
    kind: int
    pick: int


@dataclass(frozen=True)
class Rescore:
    score: int
    pick: int


@dataclass(frozen=True)
class Unscore:
    score: int


@dataclass(frozen=True)
class Unsend:
    message: int


@dataclass(frozen=True)
class Compact:
    pass


VERSIONS = st.frozensets(st.integers(0, 2), max_size=2)
LINKED = st.frozensets(st.integers(0, 2), min_size=1, max_size=2)
INDEX = st.integers(0, 7)
RATE = st.builds(Rate, st.sampled_from(list(ScoreTarget)), INDEX, st.integers(0, 3), INDEX)
# Scores and versions more often than the rest: they are what the pairs are made of.
ACTIONS = st.one_of(
    RATE,
    RATE,
    RATE,
    st.builds(AddSpan, INDEX, VERSIONS),
    st.builds(AddSpan, INDEX, VERSIONS),
    st.builds(Link, INDEX, LINKED),
    st.builds(Link, INDEX, LINKED),
    st.builds(Send, INDEX),
    st.builds(Start, INDEX, st.none() | INDEX),
    st.builds(End, INDEX, INDEX),
    st.builds(Rescore, INDEX, INDEX),
    st.builds(Unscore, INDEX),
    st.builds(Unsend, INDEX),
    st.just(Compact()),
)


@dataclass
class World:
    """What the random writes made and what of it is left."""

    graph: Graph
    app: Starlette
    versions: list[str]
    conversations: list[str]
    messages: dict[str, str] = field(default_factory=dict)  # message -> its conversation
    traces: dict[str, str] = field(default_factory=dict)  # trace -> its conversation
    running: set[str] = field(default_factory=set)
    spans: list[str] = field(default_factory=list)
    scores: dict[str, tuple[str, int]] = field(default_factory=dict)  # -> (target, kind)

    def targets(self, target: ScoreTarget) -> list[str]:
        return {
            ScoreTarget.MESSAGE: list(self.messages),
            ScoreTarget.SPAN: self.spans,
            ScoreTarget.TRACE: list(self.traces),
            ScoreTarget.CONVERSATION: self.conversations,
        }[target]

    @staticmethod
    def pick(items: list[str], index: int) -> str | None:
        return items[index % len(items)] if items else None

    def message_in(self, conversation: str, index: int | None) -> str | None:
        mine = [m for m, c in self.messages.items() if c == conversation]
        return None if index is None else self.pick(mine, index)

    async def apply(self, action: Any) -> None:
        g, gql = self.graph, self.graph.gql
        match action:
            case Send(conversation):
                chosen = self.conversations[conversation % len(self.conversations)]
                self.messages[await g.answer(chosen)] = chosen
            case Start(conversation, answers):
                chosen = self.conversations[conversation % len(self.conversations)]
                message = self.message_in(chosen, answers)
                trace = (await factories.trace(gql, chosen, messageId=message))["id"]
                self.traces[trace] = chosen
                self.running.add(trace)
            case AddSpan(trace, versions) if picked := self.pick(list(self.traces), trace):
                used = [self.versions[v] for v in sorted(versions)]
                span = await factories.span(gql, picked, componentVersionIds=used)
                self.spans.append(span["id"])
            case Link(span, versions) if picked := self.pick(self.spans, span):
                await g.link(picked, [self.versions[v] for v in sorted(versions)])
            case End(trace, answers) if picked := self.pick(sorted(self.running), trace):
                message = self.message_in(self.traces[picked], answers)
                await factories.mutate(gql, "endTrace", {"traceId": picked, "messageId": message})
                self.running.discard(picked)
            case Rate(target, index, kind, pick) if picked := self.pick(
                self.targets(target), index
            ):
                self.scores[await g.score(picked, kind, pick)] = (picked, kind)
            case Rescore(score, pick) if picked := self.pick(list(self.scores), score):
                await g.rescore(picked, self.scores[picked][1], pick)
            case Unscore(score) if picked := self.pick(list(self.scores), score):
                await gql.data(DELETE_SCORE, {"id": picked})
                del self.scores[picked]
            case Unsend(message) if picked := self.pick(list(self.messages), message):
                # With its replies, and the scores of all of them.
                found = await gql.data(DELETE_MESSAGE, {"id": picked})
                for gone in found["deleteMessage"]["deletedIds"]:
                    self.messages.pop(gone, None)
                    for lost in [s for s, (target, _) in self.scores.items() if target == gone]:
                        del self.scores[lost]
            case Compact():
                await compacted(self.app)


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(ACTIONS, min_size=25, max_size=40))
async def test_random_writes_keep_the_rollups_right(
    gql: GraphQLClient, app: Starlette, settings: Settings, steps: list[Any]
) -> None:
    place = Place()
    g = Graph(gql, place)
    made = [await g.version(f"prompt-{place.suffix}", n) for n in range(2)]
    secret, _ = await g.version(f"secret-{place.suffix}", 0, private=True)
    conversations = [(await factories.conversation(gql))["id"] for _ in range(2)]
    keeper = {"participantId": "keeper"}
    conversations.append((await factories.conversation(gql, owner=keeper))["id"])
    place.conversation, place.component = from_global_id(conversations[0])[1], made[0][1]
    world = World(g, app, [v for v, _ in made] + [secret], conversations)
    # Something to score and to use versions in, in every conversation.
    for index in range(len(conversations)):
        await world.apply(Send(index))
        await world.apply(Start(index, None))
    for number, step in enumerate(steps, start=1):
        await world.apply(step)
        if number % 5 == 0:
            await agree(app, settings, place)
    await agree(app, settings, place)
    await compacted(app)
    await agree(app, settings, place)
    await gql.data(DELETE, {"id": conversations[0]})
    await agree(app, settings, place)
