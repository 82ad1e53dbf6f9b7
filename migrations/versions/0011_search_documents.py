"""search documents that stay small and fast at millions of spans (issue 16): a span's
document holds the first 200 characters of its outputs' text (no longer its inputs),
nothing without words has a document, and on PostgreSQL a document is its stored
tsvector (no copy of the text) under one GIN index per kind of document, with a b-tree
walking the newest message documents

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Callable, Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# models.search.SPAN_TEXT_CHARS as this migration wrote the documents.
SPAN_TEXT_CHARS = 200

# A document for a message or span with words, none for one without (the DELETE covers
# an update that empties it).
POSTGRESQL_FUNCTIONS = [
    f"""
    CREATE FUNCTION threadline_span_text(outputs jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
        SELECT left(threadline_json_strings(outputs), {SPAN_TEXT_CHARS})
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION threadline_index_message() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        found tsvector := to_tsvector('english', NEW.content);
    BEGIN
        IF length(found) = 0 THEN
            DELETE FROM search_documents WHERE message_id = NEW.id;
        ELSE
            INSERT INTO search_documents (conversation_id, message_id, words)
            VALUES (NEW.conversation_id, NEW.id, found)
            ON CONFLICT (message_id) DO UPDATE SET words = EXCLUDED.words;
        END IF;
        RETURN NULL;
    END $$
    """,
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
]
POSTGRESQL_INDEXES = {
    "ix_search_documents_message_words": "USING gin (words) WHERE message_id IS NOT NULL",
    "ix_search_documents_span_words": "USING gin (words) WHERE span_id IS NOT NULL",
    "ix_search_documents_newest_messages": "(id) WHERE message_id IS NOT NULL",
}
# Migration 0007's, for the way down.
POSTGRESQL_0007_FUNCTIONS = [
    """
    CREATE OR REPLACE FUNCTION threadline_index_message() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO search_documents (conversation_id, message_id, content)
        VALUES (NEW.conversation_id, NEW.id, NEW.content)
        ON CONFLICT (message_id) DO UPDATE SET content = EXCLUDED.content;
        RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION threadline_index_span() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO search_documents (conversation_id, span_id, content)
        SELECT traces.conversation_id, NEW.id,
               threadline_json_strings(NEW.inputs) || ' ' || threadline_json_strings(NEW.outputs)
        FROM traces WHERE traces.id = NEW.trace_id
        ON CONFLICT (span_id) DO UPDATE SET content = EXCLUDED.content;
        RETURN NULL;
    END $$
    """,
]
POSTGRESQL_0007_SPAN_TEXT = (
    "threadline_json_strings(spans.inputs) || ' ' || threadline_json_strings(spans.outputs)"
)


def _postgresql_upgrade() -> None:
    for statement in POSTGRESQL_FUNCTIONS:
        op.execute(statement)
    op.execute("DROP INDEX ix_search_documents_fts")
    # The documents are a function of the messages and spans: written anew in one
    # statement, keeping their ids (the order of their writing, which a search reads as
    # newest first), and leaving no dead rows of the old shape behind.
    op.execute(
        "CREATE TEMP TABLE threadline_documents AS"
        " SELECT id, conversation_id, message_id, span_id FROM search_documents"
    )
    op.execute("TRUNCATE search_documents")
    op.execute(
        "ALTER TABLE search_documents DROP COLUMN content, ADD COLUMN words tsvector NOT NULL"
    )
    op.execute(
        """
        INSERT INTO search_documents (id, conversation_id, message_id, span_id, words)
        SELECT * FROM (
            SELECT documents.id, documents.conversation_id, documents.message_id,
                   documents.span_id,
                   to_tsvector('english', coalesce(
                       messages.content, threadline_span_text(spans.outputs)
                   )) AS words
            FROM threadline_documents AS documents
            LEFT JOIN messages ON messages.id = documents.message_id
            LEFT JOIN spans ON spans.id = documents.span_id
        ) AS rewritten
        WHERE length(words) > 0
        ORDER BY id
        """
    )
    op.execute("DROP TABLE threadline_documents")
    for name, definition in POSTGRESQL_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON search_documents {definition}")


def _postgresql_downgrade() -> None:
    for name in POSTGRESQL_INDEXES:
        op.execute(f"DROP INDEX {name}")
    for statement in POSTGRESQL_0007_FUNCTIONS:
        op.execute(statement)
    op.execute("DROP FUNCTION threadline_span_text(jsonb)")
    op.execute("TRUNCATE search_documents")
    op.execute("ALTER TABLE search_documents DROP COLUMN words, ADD COLUMN content text NOT NULL")
    _backfill_0007(POSTGRESQL_0007_SPAN_TEXT)
    op.execute(
        "CREATE INDEX ix_search_documents_fts ON search_documents"
        " USING gin (to_tsvector('english', content))"
    )


def _backfill_0007(span_text: str) -> None:
    """Migration 0007's documents (one for every message and span) for the messages and
    spans that have none."""
    op.execute(
        """
        INSERT INTO search_documents (conversation_id, message_id, content)
        SELECT conversation_id, id, content FROM messages
        WHERE NOT EXISTS (SELECT 1 FROM search_documents WHERE message_id = messages.id)
        """
    )
    op.execute(
        f"""
        INSERT INTO search_documents (conversation_id, span_id, content)
        SELECT traces.conversation_id, spans.id, {span_text}
        FROM spans JOIN traces ON traces.id = spans.trace_id
        WHERE NOT EXISTS (SELECT 1 FROM search_documents WHERE span_id = spans.id)
        """
    )


def sqlite_json_strings(value: str) -> str:
    strings = f"SELECT group_concat(value, ' ') FROM json_tree({value}) WHERE type = 'text'"
    return f"coalesce(({strings}), '')"


def sqlite_span_text(row: str) -> str:
    return f"substr({sqlite_json_strings(f'{row}.outputs')}, 1, {SPAN_TEXT_CHARS})"


def sqlite_0007_span_text(row: str) -> str:
    outputs, inputs = sqlite_json_strings(f"{row}.outputs"), sqlite_json_strings(f"{row}.inputs")
    return f"{inputs} || ' ' || {outputs}"


def has_words(text: str) -> str:
    # FTS5 finds nothing in blank text: no document for it (PostgreSQL: no lexeme).
    return f"trim({text}) <> ''"


def _sqlite_triggers(span_text: Callable[[str], str], kept: Callable[[str], str]) -> list[str]:
    """The four triggers that write documents: a span's text is `span_text` (of a row
    of spans), and a message or span has a document if `kept` (of its text)."""
    message, span = "NEW.content", span_text("NEW")
    return [
        f"""
        CREATE TRIGGER search_index_message_insert AFTER INSERT ON messages BEGIN
            INSERT INTO search_documents (conversation_id, message_id, content)
            SELECT NEW.conversation_id, NEW.id, {message} WHERE {kept(message)};
        END
        """,
        f"""
        CREATE TRIGGER search_index_message_update AFTER UPDATE OF content ON messages BEGIN
            DELETE FROM search_documents WHERE message_id = NEW.id AND NOT ({kept(message)});
            INSERT INTO search_documents (conversation_id, message_id, content)
            SELECT NEW.conversation_id, NEW.id, {message} WHERE {kept(message)}
            ON CONFLICT (message_id) DO UPDATE SET content = excluded.content;
        END
        """,
        f"""
        CREATE TRIGGER search_index_span_insert AFTER INSERT ON spans BEGIN
            INSERT INTO search_documents (conversation_id, span_id, content)
            SELECT conversation_id, NEW.id, {span} FROM traces
            WHERE id = NEW.trace_id AND {kept(span)};
        END
        """,
        f"""
        CREATE TRIGGER search_index_span_update AFTER UPDATE OF inputs, outputs ON spans BEGIN
            DELETE FROM search_documents WHERE span_id = NEW.id AND NOT ({kept(span)});
            INSERT INTO search_documents (conversation_id, span_id, content)
            SELECT conversation_id, NEW.id, {span} FROM traces
            WHERE id = NEW.trace_id AND {kept(span)}
            ON CONFLICT (span_id) DO UPDATE SET content = excluded.content;
        END
        """,
    ]


SQLITE_TRIGGERS = (
    "search_index_message_insert",
    "search_index_message_update",
    "search_index_span_insert",
    "search_index_span_update",
)


def _sqlite_replace_triggers(statements: list[str]) -> None:
    for trigger in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger}")
    for statement in statements:
        op.execute(statement)


def _sqlite_rewrite_span_documents(span_text: Callable[[str], str]) -> None:
    # search_fts follows through its own triggers on search_documents.
    op.execute(
        f"""
        UPDATE search_documents SET content = (
            SELECT {span_text("spans")} FROM spans WHERE spans.id = search_documents.span_id
        )
        WHERE span_id IS NOT NULL
        """
    )


def _sqlite_upgrade() -> None:
    _sqlite_replace_triggers(_sqlite_triggers(sqlite_span_text, has_words))
    _sqlite_rewrite_span_documents(sqlite_span_text)
    op.execute(f"DELETE FROM search_documents WHERE NOT ({has_words('content')})")


def _sqlite_downgrade() -> None:
    # Every message and span has a document again (the triggers do what 0007's did).
    _sqlite_replace_triggers(_sqlite_triggers(sqlite_0007_span_text, lambda _text: "true"))
    _sqlite_rewrite_span_documents(sqlite_0007_span_text)
    _backfill_0007(sqlite_0007_span_text("spans"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_downgrade()
    else:
        _sqlite_downgrade()
