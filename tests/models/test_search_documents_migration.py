"""Migration 0011 reshapes the search documents written before it (a span's to the first
SPAN_TEXT_CHARS characters of its outputs; none for what has no words), its
triggers keep that shape for every later write, and its downgrade gives back migration
0007's documents: one for every message and span, with all of a span's text."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from migrations import alembic_config
from models.search import SPAN_TEXT_CHARS
from tests.models.test_migrations import at_revision

AT = datetime(2026, 1, 1)
# Outputs only: "early" within the bound, "beyond" past it; the input is not searched.
LONG_OUTPUTS = {"answer": "early " + "lorem " * (SPAN_TEXT_CHARS // 6) + "beyond"}
LONG_INPUTS = {"question": "whereabouts"}


class Rows:
    """Rows written with plain SQL, as any writer would (the triggers index them)."""

    def __init__(self, connection: AsyncConnection, revision: str) -> None:
        self.connection = connection
        self.postgresql = connection.dialect.name == "postgresql"
        self.conversation = uuid.uuid4().hex
        self.trace = uuid.uuid4().hex
        self.seq = 0
        # Migration 0011's shape: PostgreSQL's words in a tsvector column, not as text.
        self.reshaped = revision >= "0011"

    async def run(self, sql: str, **values: Any) -> Any:
        return await self.connection.execute(text(sql), values)

    def json(self, name: str) -> str:
        return f"CAST(:{name} AS JSONB)" if self.postgresql else f":{name}"

    async def start(self) -> None:
        await self.run(
            "INSERT INTO conversations (id, kind, status, tags, metadata, owner_id, created_at,"
            " updated_at, last_activity_at, last_message_seq, message_count, input_tokens,"
            " output_tokens, total_tokens, cost) VALUES (:id, 'USER_AGENT', 'ACTIVE', '[]',"
            " '{}', 'ada', :at, :at, :at, 0, 0, 0, 0, 0, 0)",
            id=self.conversation,
            at=AT,
        )
        await self.run(
            "INSERT INTO traces (id, conversation_id, status, started_at, total_tokens, cost)"
            " VALUES (:id, :c, 'OK', :at, 0, 0)",
            id=self.trace,
            c=self.conversation,
            at=AT,
        )

    async def message(self, content: str) -> str:
        message = uuid.uuid4().hex
        self.seq += 1
        await self.run(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, sender_type, role,"
            " content, parts, status, input_tokens, output_tokens, total_tokens, cost,"
            " attachments, metadata, created_at, updated_at) VALUES (:id, :c, :seq, 'ada',"
            " 'USER', 'USER', :content, '[]', 'COMPLETE', 0, 0, 0, 0, '[]', '{}', :at, :at)",
            id=message,
            c=self.conversation,
            seq=self.seq,
            content=content,
            at=AT,
        )
        return message

    async def span(self, inputs: Any, outputs: Any, kind: str = "TOOL") -> str:
        span = uuid.uuid4().hex
        await self.run(
            "INSERT INTO spans (id, trace_id, kind, name, status, started_at, inputs, outputs,"
            f" attributes, input_tokens, output_tokens, total_tokens, cost) VALUES (:id, :t,"
            f" :kind, 'lookup', 'OK', :at, {self.json('inputs')}, {self.json('outputs')},"
            " '{}', 0, 0, 0, 0)",
            id=span,
            t=self.trace,
            kind=kind,
            at=AT,
            inputs=json.dumps(inputs),
            outputs=json.dumps(outputs),
        )
        return span

    async def set_span(self, span: str, inputs: Any, outputs: Any) -> None:
        await self.run(
            f"UPDATE spans SET inputs = {self.json('inputs')}, outputs = {self.json('outputs')}"
            " WHERE id = :id",
            id=span,
            inputs=json.dumps(inputs),
            outputs=json.dumps(outputs),
        )

    async def set_kind(self, span: str, kind: str) -> None:
        await self.run("UPDATE spans SET kind = :kind WHERE id = :id", id=span, kind=kind)

    async def documents(self) -> set[str]:
        """The messages and spans that have a document."""
        found = await self.run("SELECT coalesce(message_id, span_id) FROM search_documents")
        return {uuid.UUID(str(row[0])).hex for row in found}

    async def matching(self, word: str) -> set[str]:
        """The messages and spans whose document the index finds for `word`."""
        if self.postgresql:
            words = "words" if self.reshaped else "to_tsvector('english', content)"
            sql = (
                "SELECT coalesce(message_id, span_id) FROM search_documents"
                f" WHERE {words} @@ plainto_tsquery('english', :word)"
            )
        else:
            sql = (
                "SELECT coalesce(message_id, span_id) FROM search_fts JOIN search_documents"
                " ON search_documents.id = search_fts.rowid WHERE search_fts MATCH :word"
            )
        return {uuid.UUID(str(row[0])).hex for row in await self.run(sql, word=word)}

    async def migrate(self, revision: str, down: bool = False) -> None:
        move = command.downgrade if down else command.upgrade
        await self.connection.run_sync(lambda c: move(alembic_config(c), revision))
        self.reshaped = revision >= "0011"


async def test_the_documents_take_the_new_shape_and_back(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with at_revision(database_url, tmp_path_factory, "0010") as connection:
        rows = Rows(connection, "0010")
        await rows.start()
        said = await rows.message("hello there")
        silent = await rows.message("")
        long = await rows.span(LONG_INPUTS, LONG_OUTPUTS)
        empty = await rows.span({}, {})
        assert await rows.documents() == {said, silent, long, empty}

        await rows.migrate("0011")
        assert await rows.documents() == {said, long}
        assert await rows.matching("hello") == {said}
        assert await rows.matching("early") == {long}
        assert await rows.matching("beyond") == set()
        assert await rows.matching("whereabouts") == set()

        # Every later write keeps the shape: a new span is cut, a span given outputs gets a
        # document, a span whose outputs are emptied loses its own.
        later = await rows.span({"question": "marseille"}, LONG_OUTPUTS)
        await rows.set_span(empty, {"question": "lyon"}, {"answer": "rainy"})
        await rows.set_span(long, {}, {})
        assert await rows.documents() == {said, later, empty}
        assert await rows.matching("early") == {later}
        assert await rows.matching("marseille") == set()
        assert await rows.matching("rainy") == {empty}
        assert await rows.matching("lyon") == set()

        await rows.migrate("0010", down=True)
        assert await rows.documents() == {said, silent, long, empty, later}
        assert await rows.matching("beyond marseille") == {later}
        await rows.migrate("0011")
        assert await rows.documents() == {said, later, empty}
        assert await rows.matching("beyond") == set()
