"""`Conversation.modelsUsed`: the models its spans and model-call messages used, equal to
what those rows say, after deletions too; visible as the conversation is; a page of
conversations asking for it costs the same statements whatever its size."""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import or_, select
from sqlmodel import col
from starlette.applications import Starlette

from models import Message, Span, Trace
from resolvers.ids import from_global_id
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.identities import as_user

FIELDS = "model provider calls inputTokens outputTokens totalTokens cost"
USED = f"query($c: ID!) {{ conversation(id: $c) {{ cost modelsUsed {{ {FIELDS} }} }} }}"
DELETE = "mutation($m: ID!) { deleteMessage(id: $m) { deletedIds } }"
AGENT = {"senderId": "agent-1", "senderType": "AGENT", "role": "ASSISTANT"}


def used(model: str, provider: str | None, *figures: Any) -> dict[str, Any]:
    calls, input_tokens, output_tokens, cost = figures
    return {
        "model": model,
        "provider": provider,
        "calls": calls,
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens,
        "cost": cost,
    }


async def build(gql: GraphQLClient, owner: str = "user-1") -> dict[str, str]:
    """A conversation whose calls are: gpt-4o (openai) as a span, as a span that produced
    a message, and as a message of its own; a span started as claude-3 and ended as
    claude-3-5-sonnet; a tool span (no model); llama-3 (no provider) as a message."""
    conv = (await factories.conversation(gql, owner={"participantId": owner}))["id"]
    trace = (await factories.trace(gql, conv))["id"]
    gpt = {"kind": "LLM", "model": "gpt-4o", "provider": "openai"}
    first = (await factories.span(gql, trace, **gpt))["id"]
    await factories.end_span(gql, first, inputTokens=100, outputTokens=50, cost=0.3)
    producing = (await factories.span(gql, trace, **gpt))["id"]
    produced = (await factories.message(gql, conv, content="answer", **AGENT))["id"]
    await factories.end_span(
        gql, producing, messageId=produced, inputTokens=10, outputTokens=5, cost=0.1
    )
    claude = await factories.span(gql, trace, kind="LLM", model="claude-3", provider="anthropic")
    await factories.end_span(
        gql, claude["id"], model="claude-3-5-sonnet", inputTokens=20, outputTokens=20, cost=0.5
    )
    tool = (await factories.span(gql, trace, kind="TOOL"))["id"]
    await factories.end_span(gql, tool)
    llama = await factories.message(
        gql, conv, model="llama-3", inputTokens=7, outputTokens=3, cost=0.0, **AGENT
    )
    await factories.message(
        gql, conv, model="gpt-4o", provider="openai", inputTokens=1, outputTokens=1, cost=0.05
    )
    return {"conversation": conv, "llama": llama["id"]}


BUILT = [
    used("claude-3-5-sonnet", "anthropic", 1, 20, 20, 0.5),
    used("gpt-4o", "openai", 3, 111, 56, 0.45),
    used("llama-3", None, 1, 7, 3, 0.0),
]


async def from_rows(app: Starlette, conversation_id: str) -> list[dict[str, Any]]:
    """modelsUsed as the spans and the messages no span produced say, costliest first."""
    raw_id: uuid.UUID = from_global_id(conversation_id)[1]
    usage = ("input_tokens", "output_tokens", "total_tokens", "cost")
    spans = (
        select(col(Span.model), col(Span.provider), *(col(getattr(Span, u)) for u in usage))
        .join(Trace, col(Trace.id) == col(Span.trace_id))
        .where(col(Trace.conversation_id) == raw_id)
    )
    own_calls = or_(*(col(getattr(Message, u)) != 0 for u in usage))
    messages = select(
        col(Message.model), col(Message.provider), *(col(getattr(Message, u)) for u in usage)
    ).where(col(Message.conversation_id) == raw_id, col(Message.span_id).is_(None), own_calls)
    sums: dict[tuple[str, str | None], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, Decimal(0)])
    async with app.state.engine.connect() as connection:
        for statement in (spans, messages):
            for model, provider, *figures in (await connection.execute(statement)).all():
                if model is None:
                    continue
                found = sums[model, provider]
                found[0] += 1
                for at, figure in enumerate(figures, start=1):
                    found[at] += figure
    return [
        {
            "model": model,
            "provider": provider,
            "calls": calls,
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": total_tokens,
            "cost": float(cost),
        }
        for (model, provider), (calls, input_tokens, output_tokens, total_tokens, cost) in sorted(
            sums.items(), key=lambda item: (-item[1][4], item[0][0])
        )
    ]


async def models_used(gql: GraphQLClient, conversation_id: str) -> Any:
    return (await gql.data(USED, {"c": conversation_id}))["conversation"]


async def test_models_used_are_what_the_rows_say(gql: GraphQLClient, app: Starlette) -> None:
    built = await build(gql)
    conversation = await models_used(gql, built["conversation"])
    assert conversation["modelsUsed"] == BUILT
    assert conversation["modelsUsed"] == await from_rows(app, built["conversation"])
    # Every call that cost anything named a model: the models' costs are the total.
    assert sum(m["cost"] for m in conversation["modelsUsed"]) == conversation["cost"]


async def test_a_deleted_message_takes_its_calls_with_it(
    gql: GraphQLClient, app: Starlette
) -> None:
    built = await build(gql)
    # The llama message and, replying to it, the gpt-4o message of its own.
    deleted = (await gql.data(DELETE, {"m": built["llama"]}))["deleteMessage"]["deletedIds"]
    assert len(deleted) == 2
    conversation = await models_used(gql, built["conversation"])
    assert conversation["modelsUsed"] == [
        used("claude-3-5-sonnet", "anthropic", 1, 20, 20, 0.5),
        used("gpt-4o", "openai", 2, 110, 55, 0.4),
    ]
    assert conversation["modelsUsed"] == await from_rows(app, built["conversation"])


async def test_a_conversation_without_calls_used_no_model(gql: GraphQLClient) -> None:
    conv = (await factories.conversation(gql))["id"]
    await factories.message(gql, conv)
    assert (await models_used(gql, conv))["modelsUsed"] == []


async def test_visible_as_the_conversation_is(
    gql: GraphQLClient, secured_http: httpx.AsyncClient
) -> None:
    built = await build(gql, owner="alice")
    alice, carol = as_user(secured_http, "alice"), as_user(secured_http, "carol")
    assert (await models_used(alice, built["conversation"]))["modelsUsed"] == BUILT
    assert await models_used(carol, built["conversation"]) is None
    listed = "{ conversations { nodes { modelsUsed { model } } } }"
    assert (await carol.data(listed))["conversations"]["nodes"] == []


PAGE = f"{{ conversations(first: 50) {{ nodes {{ id modelsUsed {{ {FIELDS} }} }} }} }}"


async def count_page(gql: GraphQLClient, sql: StatementCounter, size: int) -> int:
    sql.reset()
    nodes = (await gql.data(PAGE))["conversations"]["nodes"]
    assert len(nodes) == size
    assert all(node["modelsUsed"][0]["calls"] == 1 for node in nodes)
    return sql.count


@pytest.mark.parametrize("models", [1, 3])
async def test_a_page_of_50_costs_the_same_statements_as_a_page_of_2(
    gql: GraphQLClient, sql: StatementCounter, models: int
) -> None:
    async def add(count: int) -> None:
        for _ in range(count):
            conv = (await factories.conversation(gql))["id"]
            for n in range(models):
                await factories.message(gql, conv, model=f"m{n}", inputTokens=1, cost=0.01)

    await add(2)
    small = await count_page(gql, sql, 2)
    await add(48)
    large = await count_page(gql, sql, 50)
    # The page, then one statement for every conversation's models.
    assert small == large == 2, sql.statements
