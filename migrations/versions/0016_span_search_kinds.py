"""span search kinds (issue 16): only TOOL and RETRIEVER spans have a search document
(their outputs are text no message holds), a span gains or loses its document when its
kind changes, and spans' plan step index holds the spans that have one

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# models.search.SEARCHED_SPAN_KINDS as this migration wrote the documents.
SEARCHED = "('TOOL', 'RETRIEVER')"
# models.search.SPAN_TEXT_CHARS (migration 0011's bound, unchanged).
SPAN_TEXT_CHARS = 200

# A span of another kind has no document: none is written, and an update that takes a
# span out of the searched kinds deletes its own. Only updates that touch a searched
# span (before or after) run the function.
POSTGRESQL_UPGRADE = [
    f"""
    CREATE OR REPLACE FUNCTION threadline_index_span() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        found tsvector;
    BEGIN
        IF NEW.kind IN {SEARCHED} THEN
            found := to_tsvector('english', threadline_span_text(NEW.outputs));
        END IF;
        IF coalesce(length(found), 0) = 0 THEN
            DELETE FROM search_documents WHERE span_id = NEW.id;
        ELSE
            INSERT INTO search_documents (conversation_id, span_id, words)
            SELECT traces.conversation_id, NEW.id, found FROM traces WHERE traces.id = NEW.trace_id
            ON CONFLICT (span_id) DO UPDATE SET words = EXCLUDED.words;
        END IF;
        RETURN NULL;
    END $$
    """,
    "DROP TRIGGER search_index_span ON spans",
    f"""
    CREATE TRIGGER search_index_span_insert AFTER INSERT ON spans
    FOR EACH ROW WHEN (NEW.kind IN {SEARCHED}) EXECUTE FUNCTION threadline_index_span()
    """,
    f"""
    CREATE TRIGGER search_index_span_update AFTER UPDATE OF outputs, kind ON spans
    FOR EACH ROW WHEN (OLD.kind IN {SEARCHED} OR NEW.kind IN {SEARCHED})
    EXECUTE FUNCTION threadline_index_span()
    """,
]
# Migration 0011's function and migration 0007's trigger, for the way down.
POSTGRESQL_DOWNGRADE = [
    """
    CREATE OR REPLACE FUNCTION threadline_index_span() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        found tsvector := to_tsvector('english', threadline_span_text(NEW.outputs));
    BEGIN
        IF length(found) = 0 THEN
            DELETE FROM search_documents WHERE span_id = NEW.id;
        ELSE
            INSERT INTO search_documents (conversation_id, span_id, words)
            SELECT traces.conversation_id, NEW.id, found FROM traces WHERE traces.id = NEW.trace_id
            ON CONFLICT (span_id) DO UPDATE SET words = EXCLUDED.words;
        END IF;
        RETURN NULL;
    END $$
    """,
    "DROP TRIGGER search_index_span_update ON spans",
    "DROP TRIGGER search_index_span_insert ON spans",
    """
    CREATE TRIGGER search_index_span AFTER INSERT OR UPDATE OF inputs, outputs ON spans
    FOR EACH ROW EXECUTE FUNCTION threadline_index_span()
    """,
]


def _postgresql_keep_searched_documents() -> None:
    """Only the documents of messages and of searched spans, written anew with their ids:
    most span documents go, and deleting them would leave the table and its indexes at
    their old size (the dead rows' space is reused only as new documents come)."""
    columns = "id, conversation_id, message_id, span_id, words"
    op.execute(
        f"CREATE TEMP TABLE threadline_documents AS SELECT {columns} FROM search_documents"
        " WHERE NOT EXISTS (SELECT 1 FROM spans WHERE spans.id = search_documents.span_id"
        f" AND spans.kind NOT IN {SEARCHED})"
    )
    op.execute("TRUNCATE search_documents")
    op.execute(
        f"INSERT INTO search_documents ({columns})"
        f" SELECT {columns} FROM threadline_documents ORDER BY id"
    )
    op.execute("DROP TABLE threadline_documents")
    # Searches plan by the documents' statistics: the new ones, not those of the old table.
    op.execute("ANALYZE search_documents")


def _postgresql_restore_documents() -> None:
    """Migration 0011's documents of the spans of other kinds, newest by start."""
    op.execute(
        f"""
        INSERT INTO search_documents (conversation_id, span_id, words)
        SELECT conversation_id, id, words FROM (
            SELECT traces.conversation_id, spans.id, spans.started_at,
                   to_tsvector('english', threadline_span_text(spans.outputs)) AS words
            FROM spans JOIN traces ON traces.id = spans.trace_id
            WHERE spans.kind NOT IN {SEARCHED}
        ) AS restored
        WHERE length(words) > 0
        ORDER BY started_at, id
        """
    )
    op.execute("ANALYZE search_documents")


def sqlite_span_text(row: str) -> str:
    """The text of a span's document (migration 0011's)."""
    strings = f"SELECT group_concat(value, ' ') FROM json_tree({row}.outputs) WHERE type = 'text'"
    return f"substr(coalesce(({strings}), ''), 1, {SPAN_TEXT_CHARS})"


def has_words(text: str) -> str:
    return f"trim({text}) <> ''"


def _sqlite_span_triggers(kinds: str | None) -> list[str]:
    """The two triggers that write span documents: a span has one if its kind is one of
    `kinds` (any kind if None, as migration 0011 wrote them) and its text has words."""
    span = sqlite_span_text("NEW")
    kept, columns, on_insert, on_update = has_words(span), "inputs, outputs", "", ""
    if kinds is not None:
        searched = f"NEW.kind IN {kinds}"
        kept, columns = f"{searched} AND {kept}", "outputs, kind"
        on_insert, on_update = f" WHEN {searched}", f" WHEN OLD.kind IN {kinds} OR {searched}"
    return [
        f"""
        CREATE TRIGGER search_index_span_insert AFTER INSERT ON spans{on_insert} BEGIN
            INSERT INTO search_documents (conversation_id, span_id, content)
            SELECT conversation_id, NEW.id, {span} FROM traces
            WHERE id = NEW.trace_id AND {kept};
        END
        """,
        f"""
        CREATE TRIGGER search_index_span_update AFTER UPDATE OF {columns} ON spans{on_update}
        BEGIN
            DELETE FROM search_documents WHERE span_id = NEW.id AND NOT ({kept});
            INSERT INTO search_documents (conversation_id, span_id, content)
            SELECT conversation_id, NEW.id, {span} FROM traces
            WHERE id = NEW.trace_id AND {kept}
            ON CONFLICT (span_id) DO UPDATE SET content = excluded.content;
        END
        """,
    ]


def _sqlite_replace_span_triggers(statements: list[str]) -> None:
    for trigger in ("search_index_span_insert", "search_index_span_update"):
        op.execute(f"DROP TRIGGER {trigger}")
    for statement in statements:
        op.execute(statement)


def _sqlite_restore_documents() -> None:
    span = sqlite_span_text("spans")
    op.execute(
        f"""
        INSERT INTO search_documents (conversation_id, span_id, content)
        SELECT traces.conversation_id, spans.id, {span}
        FROM spans JOIN traces ON traces.id = spans.trace_id
        WHERE spans.kind NOT IN {SEARCHED} AND {has_words(span)}
        ORDER BY spans.started_at, spans.id
        """
    )


# Every span but few has no plan step: the index holds those that have one, which is
# all that `plan_step_id = X` (a step's spans, the foreign key's ON DELETE SET NULL) reads.
PLAN_STEP_INDEX = "ix_spans_plan_step_id"
HAS_PLAN_STEP = sa.text("plan_step_id IS NOT NULL")


def _index_plan_steps(where: sa.TextClause | None) -> None:
    op.drop_index(PLAN_STEP_INDEX, table_name="spans")
    op.create_index(
        PLAN_STEP_INDEX, "spans", ["plan_step_id"], postgresql_where=where, sqlite_where=where
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_UPGRADE:
            op.execute(statement)
        _postgresql_keep_searched_documents()
    else:
        _sqlite_replace_span_triggers(_sqlite_span_triggers(SEARCHED))
        # search_fts follows through its triggers; SQLite reuses the freed pages.
        op.execute(
            "DELETE FROM search_documents WHERE span_id IN"
            f" (SELECT id FROM spans WHERE kind NOT IN {SEARCHED})"
        )
    _index_plan_steps(HAS_PLAN_STEP)


def downgrade() -> None:
    _index_plan_steps(None)
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_DOWNGRADE:
            op.execute(statement)
        _postgresql_restore_documents()
    else:
        _sqlite_replace_span_triggers(_sqlite_span_triggers(None))
        _sqlite_restore_documents()
