"""Migration 0016 keeps the search documents of messages and of TOOL and RETRIEVER spans
only, its triggers give a span a document or take it away as its kind changes, and its
downgrade gives every span with text its document again; it also narrows spans' plan
step index to the spans that have a step, and widens it back."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

import models
from models import Span
from models.enums import SpanKind
from models.search import SEARCHED_SPAN_KINDS
from tests.models.test_migrations import at_revision
from tests.models.test_search_documents_migration import Rows

PLAN_STEP_INDEX = "ix_spans_plan_step_id"


async def plan_step_index(connection: AsyncConnection) -> str:
    """How the database defines spans' plan step index."""
    if connection.dialect.name == "postgresql":
        sql = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    else:
        sql = "SELECT sql FROM sqlite_master WHERE name = :name"
    return str((await connection.execute(text(sql), {"name": PLAN_STEP_INDEX})).scalar_one())


def declared_plan_step_condition(dialect: str) -> str:
    """The condition of the model's plan step index (Alembic does not compare them)."""
    spans = models.metadata.tables[Span.__tablename__]
    index = next(i for i in spans.indexes if i.name == PLAN_STEP_INDEX)
    return str(index.dialect_options[dialect]["where"])


async def check_fts(connection: AsyncConnection) -> None:
    """On SQLite, fails unless the FTS5 index holds exactly the documents' text: a
    document deleted without its index entries would still be found by a MATCH."""
    if connection.dialect.name == "sqlite":
        check = "INSERT INTO search_fts (search_fts, rank) VALUES ('integrity-check', 1)"
        await connection.execute(text(check))


async def test_only_searched_kinds_keep_their_documents_and_back(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert set(SEARCHED_SPAN_KINDS) == {SpanKind.TOOL, SpanKind.RETRIEVER}
    async with at_revision(database_url, tmp_path_factory, "0015") as connection:
        rows = Rows(connection, "0015")
        await rows.start()
        said = await rows.message("zebra crossing")
        spans = {
            kind: await rows.span({}, {"result": f"zebra {kind.value}"}, kind.value)
            for kind in SpanKind
        }
        silent = await rows.span({}, {}, "RETRIEVER")
        assert await rows.documents() == {said, *spans.values()}
        assert "WHERE" not in await plan_step_index(connection)
        await check_fts(connection)

        await rows.migrate("0016")
        tool, retriever = spans[SpanKind.TOOL], spans[SpanKind.RETRIEVER]
        assert await rows.documents() == {said, tool, retriever}
        assert await rows.matching("zebra") == {said, tool, retriever}
        assert await rows.matching("retriever") == {retriever}
        condition = declared_plan_step_condition(connection.dialect.name)
        assert condition == "plan_step_id IS NOT NULL"
        assert condition in await plan_step_index(connection)

        # Into a searched kind: a document; out of one: none; a searched span without
        # text, or a span of another kind given text: none.
        llm, chain = spans[SpanKind.LLM], spans[SpanKind.CHAIN]
        await rows.set_kind(llm, "TOOL")
        await rows.set_kind(tool, "CHAIN")
        await rows.set_kind(silent, "TOOL")
        await rows.set_span(chain, {}, {"result": "zebra stripes"})
        new_tool = await rows.span({}, {"result": "zebra anew"}, "TOOL")
        new_llm = await rows.span({}, {"result": "zebra anew"}, "LLM")
        assert await rows.documents() == {said, retriever, llm, new_tool}
        assert await rows.matching("llm") == {llm}
        assert await rows.matching("stripes") == set()
        assert await rows.matching("anew") == {new_tool}
        await check_fts(connection)

        # Every span with text has its document again, and later spans too.
        await rows.migrate("0015", down=True)
        assert await rows.documents() == {said, *spans.values(), new_tool, new_llm}
        assert await rows.matching("anew") == {new_tool, new_llm}
        assert await rows.matching("stripes") == {chain}
        assert await rows.matching("tool") == {tool}
        later = await rows.span({}, {"result": "zebra later"}, "AGENT")
        assert await rows.matching("later") == {later}
        assert "WHERE" not in await plan_step_index(connection)
        await check_fts(connection)

        await rows.migrate("0016")
        assert await rows.documents() == {said, retriever, llm, new_tool}
        assert await rows.matching("anew") == {new_tool}
        await check_fts(connection)
