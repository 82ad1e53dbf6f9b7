"""One usage model: every model call counted once, whichever way it arrived.

Random mixes of messages with usage, API spans (some producing a message), ingested
OpenTelemetry runs (whose agent span restates its calls' usage), deletions and forks;
afterwards every conversation's totals are exactly its `usage`, each trace's totals are
its spans', and the conversations' usage adds up to the ungrouped `usage`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.otel_runs import Recorder, genai_messages, protobuf_body
from tests import factories
from tests.graphql_client import GraphQLClient
from tests.identities import as_user

TOTALS = ("inputTokens", "outputTokens", "totalTokens", "cost")
FIELDS = " ".join(TOTALS)
USAGE = f"""query($c: [ID!]) {{ usage(filter: {{conversationIds: $c}}) {{ count {FIELDS} }} }}"""
BY_CONVERSATION = f"""{{ usage(groupBy: [CONVERSATION]) {{ {FIELDS}
  conversation {{ id {FIELDS} }} }}
  all: usage {{ {FIELDS} }} }}"""
STATE = f"""query($c: ID!) {{ conversation(id: $c) {{ {FIELDS}
  metrics {{ {FIELDS} }}
  messages(allBranches: true, last: 1) {{ nodes {{ id }} }}
  traces {{ nodes {{ totalTokens cost spans {{ nodes {{ totalTokens cost }} }} }} }}
}} }}"""
BY_TITLE = (
    """query($t: String!) { conversations(filter: {titleContains: $t}) { nodes { id title } } }"""
)

tokens = st.integers(min_value=0, max_value=5_000)
# Costs as a client states them: a few decimals, or none (then the price table decides).
costs = st.none() | st.decimals(min_value=0, max_value=3, places=5).map(float)
models = st.sampled_from(["gpt-4o-mini", "gpt-4o-mini-2024-07-18", "unknown-model", None])
conversations = st.integers(min_value=0, max_value=4)


@dataclass(frozen=True)
class Message:
    conversation: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    model: str | None


@dataclass(frozen=True)
class ApiSpan:
    conversation: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    model: str | None
    produces_latest_message: bool


@dataclass(frozen=True)
class IngestedRun:
    calls: tuple[tuple[int, int], ...]
    model: str


@dataclass(frozen=True)
class DeleteLatest:
    conversation: int


@dataclass(frozen=True)
class ForkAtLatest:
    conversation: int


actions = st.one_of(
    st.builds(Message, conversations, tokens, tokens, costs, models),
    st.builds(ApiSpan, conversations, tokens, tokens, costs, models, st.booleans()),
    st.builds(
        IngestedRun,
        st.lists(st.tuples(tokens, tokens), min_size=1, max_size=3).map(tuple),
        st.sampled_from(["gpt-4o-mini-2024-07-18", "gpt-4o", "mystery-llm"]),
    ),
    st.builds(DeleteLatest, conversations),
    st.builds(ForkAtLatest, conversations),
)


@dataclass
class World:
    gql: GraphQLClient
    conversations: list[str] = field(default_factory=list)

    def pick(self, index: int) -> str:
        return self.conversations[index % len(self.conversations)]

    async def latest_message(self, conversation: str) -> str | None:
        state = (await self.gql.data(STATE, {"c": conversation}))["conversation"]
        nodes = state["messages"]["nodes"]
        return nodes[-1]["id"] if nodes else None

    async def apply(self, action: Any) -> None:
        match action:
            case Message():
                await self.message(action)
            case ApiSpan():
                await self.span(action)
            case IngestedRun():
                await self.ingest(action)
            case DeleteLatest():
                latest = await self.latest_message(self.pick(action.conversation))
                if latest is not None:
                    await self.gql.data(
                        "mutation($id: ID!) { deleteMessage(id: $id) { deletedIds } }",
                        {"id": latest},
                    )
            case ForkAtLatest():
                latest = await self.latest_message(self.pick(action.conversation))
                if latest is not None:
                    fork = await self.gql.data(
                        "mutation($m: ID!) { forkConversation(fromMessageId: $m) { id } }",
                        {"m": latest},
                    )
                    self.conversations.append(fork["forkConversation"]["id"])

    async def message(self, m: Message) -> None:
        usage: dict[str, Any] = {"inputTokens": m.input_tokens, "outputTokens": m.output_tokens}
        if m.cost is not None:
            usage["cost"] = m.cost
        await factories.message(
            self.gql,
            self.pick(m.conversation),
            senderId="agent-1",
            senderType="AGENT",
            role="ASSISTANT",
            model=m.model,
            **usage,
        )

    async def span(self, s: ApiSpan) -> None:
        conversation = self.pick(s.conversation)
        produced = await self.latest_message(conversation) if s.produces_latest_message else None
        trace = (await factories.trace(self.gql, conversation))["id"]
        span = (await factories.span(self.gql, trace, kind="LLM", model=s.model))["id"]
        usage: dict[str, Any] = {"inputTokens": s.input_tokens, "outputTokens": s.output_tokens}
        if s.cost is not None:
            usage["cost"] = s.cost
        await factories.end_span(self.gql, span, messageId=produced, **usage)

    async def ingest(self, run: IngestedRun) -> None:
        """An agent run in GenAI conventions whose agent span also states the run's totals
        (as frameworks do): counted, they would count every call twice."""
        key = f"run-{uuid.uuid4().hex[:12]}"
        recorder = Recorder()
        common = {"gen_ai.conversation.id": key, "gen_ai.provider.name": "openai"}
        totals = [sum(c[i] for c in run.calls) for i in (0, 1)]
        agent: dict[str, Any] = {
            **common,
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.usage.input_tokens": totals[0],
            "gen_ai.usage.output_tokens": totals[1],
        }
        history = [("user", [{"type": "text", "content": f"question for {key}"}])]
        with recorder.tracer.start_as_current_span("invoke_agent", attributes=agent):
            for turn, (inp, out) in enumerate(run.calls):
                llm = {**common, "gen_ai.operation.name": "chat", "gen_ai.request.model": run.model}
                with recorder.tracer.start_as_current_span("chat", attributes=llm) as span:
                    said = ("assistant", [{"type": "text", "content": f"answer {turn}"}])
                    span.set_attribute("gen_ai.input.messages", genai_messages(*history))
                    span.set_attribute("gen_ai.output.messages", genai_messages(said))
                    span.set_attribute("gen_ai.usage.input_tokens", inp)
                    span.set_attribute("gen_ai.usage.output_tokens", out)
                history += [said, ("user", [{"type": "text", "content": f"more {turn}"}])]
        answer = await self.gql.http.post(
            "/v1/traces",
            content=protobuf_body(recorder.take()),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert answer.status_code == 200, answer.text
        found = (await self.gql.data(BY_TITLE, {"t": key}))["conversations"]["nodes"]
        [conversation] = [c["id"] for c in found if c["title"] == key]
        self.conversations.append(conversation)
        # Each call once: not again as the messages it wrote, nor as the agent's totals.
        state = (await self.gql.data(STATE, {"c": conversation}))["conversation"]
        assert (state["inputTokens"], state["outputTokens"]) == tuple(totals)


def exact(figures: dict[str, Any]) -> dict[str, Any]:
    """Totals with the cost as the decimal it prints as (the server renders it exactly)."""
    return {
        name: Decimal(repr(figures[name])) if name == "cost" else figures[name] for name in TOTALS
    }


async def check(world: World) -> None:
    gql = world.gql
    for conversation in world.conversations:
        state = (await gql.data(STATE, {"c": conversation}))["conversation"]
        if state is None:  # a fork's source is never deleted here, but be plain about it
            continue
        usage = (await gql.data(USAGE, {"c": [conversation]}))["usage"]
        assert len(usage) == 1
        assert exact(state) == exact(usage[0]), conversation
        assert exact(state["metrics"]) == exact(state), conversation
        for trace in state["traces"]["nodes"]:
            spans = trace["spans"]["nodes"]
            assert trace["totalTokens"] == sum(s["totalTokens"] for s in spans)
            assert Decimal(repr(trace["cost"])) == sum(Decimal(repr(s["cost"])) for s in spans)
    grouped = await gql.data(BY_CONVERSATION)
    for group in grouped["usage"]:
        assert exact(group) == exact(group["conversation"])
    summed = {
        name: sum((exact(group)[name] for group in grouped["usage"]), Decimal(0)) for name in TOTALS
    }
    assert summed == exact(grouped["all"][0])


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(actions, min_size=1, max_size=6))
async def test_every_model_call_is_counted_once(gql: GraphQLClient, steps: list[Any]) -> None:
    world = World(gql)
    for _ in range(2):
        world.conversations.append((await factories.conversation(gql))["id"])
    for step in steps:
        await world.apply(step)
    await check(world)


async def test_a_message_a_span_produced_counts_once(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    message = await factories.message(
        gql,
        conversation,
        senderId="agent-1",
        senderType="AGENT",
        role="ASSISTANT",
        inputTokens=100,
        outputTokens=10,
        cost=0.25,
    )
    trace = (await factories.trace(gql, conversation))["id"]
    span = (await factories.span(gql, trace, kind="LLM"))["id"]
    await factories.end_span(
        gql, span, inputTokens=120, outputTokens=12, cost=0.5, messageId=message["id"]
    )
    state = (await gql.data(STATE, {"c": conversation}))["conversation"]
    # The span's call, once; the message shows the span's usage.
    assert exact(state) == {
        "inputTokens": 120,
        "outputTokens": 12,
        "totalTokens": 132,
        "cost": Decimal("0.5"),
    }
    shown = await gql.data(
        f"query($m: ID!) {{ node(id: $m) {{ ... on Message {{ {FIELDS} }} }} }}",
        {"m": message["id"]},
    )
    assert exact(shown["node"]) == exact(state)
    other = (await factories.span(gql, trace, kind="LLM"))["id"]
    error = await gql.error_code(
        "mutation($s: ID!, $m: ID!) { endSpan(input: {spanId: $s, messageId: $m}) { id } }",
        {"s": other, "m": message["id"]},
    )
    assert error == "CONFLICT"


async def test_costs_add_up_exactly(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    for _ in range(3):
        await factories.message(gql, conversation, inputTokens=1, cost=0.1)
    state = await gql.http.post(
        "/graphql",
        json={
            "query": "query($c: ID!) { conversation(id: $c) { cost } }",
            "variables": {"c": conversation},
        },
    )
    # Three times 0.1 is 0.3, not 0.30000000000000004.
    assert '"cost":0.3}' in state.text


async def test_only_a_messages_sender_says_which_call_wrote_it(
    secured_http: httpx.AsyncClient,
) -> None:
    ada, bob = as_user(secured_http, "ada"), as_user(secured_http, "bob")
    conversation = (
        await factories.conversation(
            ada, owner={"participantId": "ada"}, participants=[{"participantId": "bob"}]
        )
    )["id"]
    message = await factories.message(ada, conversation, senderId="ada", inputTokens=5, cost=0.001)
    trace = (await factories.trace(bob, conversation))["id"]
    span = (await factories.span(bob, trace, kind="LLM"))["id"]
    link = """mutation($s: ID!, $m: ID!) {
      endSpan(input: {spanId: $s, messageId: $m, inputTokens: 900000, cost: 999}) { id } }"""
    assert await bob.error_code(link, {"s": span, "m": message["id"]}) == "FORBIDDEN"
    shown = await ada.data(
        f"query($m: ID!) {{ node(id: $m) {{ ... on Message {{ {FIELDS} costSource }} }} }}",
        {"m": message["id"]},
    )
    assert shown["node"] == {
        "inputTokens": 5,
        "outputTokens": 0,
        "totalTokens": 5,
        "cost": 0.001,
        "costSource": "REPORTED",
    }


async def test_a_write_returns_the_cost_it_stored(gql: GraphQLClient) -> None:
    conversation = (await factories.conversation(gql))["id"]
    sent = await factories.message(gql, conversation, "id cost", cost=0.0000000015)
    read = await gql.data(
        "query($m: ID!) { node(id: $m) { ... on Message { cost } } }", {"m": sent["id"]}
    )
    # Stored to the nano-dollar, half-even: 1.5 nanos are 2.
    assert sent["cost"] == read["node"]["cost"] == 2e-9
