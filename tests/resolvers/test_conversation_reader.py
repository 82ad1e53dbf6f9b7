"""The batched reader behind the conversation export and transcript: each statement
reads at most BATCH_SIZE rows (or walks BATCH_SIZE messages), all in one snapshot."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update
from sqlmodel import col
from starlette.applications import Starlette

from config import Settings
from models import Message
from resolvers import conversation_reader
from resolvers.context import Context
from resolvers.conversation_reader import (
    ConversationReader,
    TooLarge,
    branch_segments,
    latest_branch,
    reading,
)
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import StatementCounter
from tests.graphql_client import GraphQLClient
from tests.lifecycle_graph import raw
from tests.resolvers.test_delete_at_scale import MESSAGES, message_rows
from tests.schema.test_fork_export import MARKDOWN

BATCH = 3
# Messages 1..8 each replying to the one before, and 9 replying to 5: the latest branch
# is 1-5, 9; 6-8 are on another.
CHAIN, BRANCH_POINT = 8, 5


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conversation_reader, "BATCH_SIZE", BATCH)


async def branched(gql: GraphQLClient, app: Starlette) -> uuid.UUID:
    conversation = raw((await factories.conversation(gql, title="branched"))["id"])
    rows = message_rows(conversation, CHAIN + 1)
    rows[-1]["parent_message_id"] = rows[BRANCH_POINT - 1]["id"]
    async with app.state.engine.begin() as connection:
        await connection.execute(insert(MESSAGES), rows)
    return conversation


@pytest.fixture
async def reader(
    gql: GraphQLClient, app: Starlette, settings: Settings
) -> AsyncIterator[ConversationReader]:
    conversation = await branched(gql, app)
    async with reading(Context.create(app.state.database, settings), conversation) as found:
        yield found


def messages_of(reader: ConversationReader) -> Any:
    return select(Message).where(col(Message.conversation_id) == reader.conversation_id)


@pytest.mark.usefixtures("small_batches")
async def test_a_table_is_read_a_batch_a_statement(
    reader: ConversationReader, sql: StatementCounter
) -> None:
    sql.reset()
    batches = [batch async for batch in reader.batches(messages_of(reader))]
    # The last batch was full: one more statement finds nothing after it.
    assert [len(batch) for batch in batches] == [3, 3, 3, 0]
    assert sql.count == len(batches)
    ids = [row["id"] for batch in batches for row in batch]
    assert ids == sorted(ids)
    assert len(set(ids)) == CHAIN + 1


@pytest.mark.usefixtures("small_batches")
async def test_the_latest_branch_is_walked_a_batch_a_statement(
    reader: ConversationReader, sql: StatementCounter
) -> None:
    sql.reset()
    branch = await latest_branch(reader)
    assert branch.length == BRANCH_POINT + 1
    # The leaf, then a walk up from each segment's start.
    assert sql.count == 1 + len(branch.starts) == 3
    segments = [[m["seq"] for m in s] async for s in branch_segments(reader, branch)]
    assert segments == [[1, 2, 3], [4, 5, 9]]
    assert sql.count == 3 + len(segments)


async def test_the_transcript_is_the_same_in_batches(
    gql: GraphQLClient, http: httpx.AsyncClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = to_global_id("Conversation", await branched(gql, app))
    whole = (await gql.data(MARKDOWN, {"c": conversation}))["conversationMarkdown"]
    assert "(the latest branch; 3 message(s) on others)" in whole
    assert re.findall(r"^### (\d+)\.", whole, flags=re.MULTILINE) == ["1", "2", "3", "4", "5", "9"]
    monkeypatch.setattr(conversation_reader, "BATCH_SIZE", BATCH)
    assert (await http.get(f"/conversations/{conversation}/markdown")).text == whole


async def test_what_is_written_meanwhile_is_not_read(
    reader: ConversationReader, app: Starlette
) -> None:
    await reader.conversation()
    later = message_rows(reader.conversation_id, 1)[0] | {"id": uuid.uuid4(), "seq": 100}
    async with app.state.engine.begin() as connection:
        await connection.execute(insert(MESSAGES), [later])
        await connection.execute(
            update(MESSAGES).where(MESSAGES.c.seq == 1).values(content="edited meanwhile")
        )
    rows = [row async for batch in reader.batches(messages_of(reader)) for row in batch]
    assert len(rows) == CHAIN + 1
    assert "edited meanwhile" not in {row["content"] for row in rows}


async def test_a_bounded_reader_refuses_more_rows(reader: ConversationReader) -> None:
    reader.max_rows = 5
    await reader.conversation()
    with pytest.raises(TooLarge) as refused:
        [batch async for batch in reader.batches(messages_of(reader))]
    assert refused.value.extensions == {"maxRows": 5}
