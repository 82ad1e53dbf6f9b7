"""analysis reads (issue 5): scores, pinned facts, the full-text search index

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The search documents are written by triggers, so that every write keeps them in
# sync, whoever makes it (mutations, streaming, ingestion). A span's document is the
# string values found anywhere in its inputs and outputs.
POSTGRESQL_SEARCH = [
    """
    CREATE FUNCTION threadline_json_strings(value jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
        SELECT coalesce(string_agg(found #>> '{}', ' '), '')
        FROM jsonb_path_query(value, 'strict $.** ? (@.type() == "string")') AS found
    $$
    """,
    """
    CREATE FUNCTION threadline_index_message() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO search_documents (conversation_id, message_id, content)
        VALUES (NEW.conversation_id, NEW.id, NEW.content)
        ON CONFLICT (message_id) DO UPDATE SET content = EXCLUDED.content;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION threadline_index_span() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO search_documents (conversation_id, span_id, content)
        SELECT traces.conversation_id, NEW.id,
               threadline_json_strings(NEW.inputs) || ' ' || threadline_json_strings(NEW.outputs)
        FROM traces WHERE traces.id = NEW.trace_id
        ON CONFLICT (span_id) DO UPDATE SET content = EXCLUDED.content;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER search_index_message AFTER INSERT OR UPDATE OF content ON messages
    FOR EACH ROW EXECUTE FUNCTION threadline_index_message()
    """,
    """
    CREATE TRIGGER search_index_span AFTER INSERT OR UPDATE OF inputs, outputs ON spans
    FOR EACH ROW EXECUTE FUNCTION threadline_index_span()
    """,
    """
    CREATE INDEX ix_search_documents_fts ON search_documents
    USING gin (to_tsvector('english', content))
    """,
]



def sqlite_span_text(row: str) -> str:
    return f"""
    coalesce((SELECT group_concat(value, ' ') FROM json_tree({row}.inputs) WHERE type = 'text'), '')
    || ' ' ||
    coalesce((SELECT group_concat(value, ' ') FROM json_tree({row}.outputs) WHERE type = 'text'), '')
    """


POSTGRESQL_SPAN_TEXT = (
    "threadline_json_strings(spans.inputs) || ' ' || threadline_json_strings(spans.outputs)"
)

SQLITE_SEARCH = [
    # External content: the text lives once, in search_documents; `id` never changes.
    """
    CREATE VIRTUAL TABLE search_fts USING fts5(
        content, content='search_documents', content_rowid='id', tokenize='porter unicode61'
    )
    """,
    """
    CREATE TRIGGER search_fts_insert AFTER INSERT ON search_documents BEGIN
        INSERT INTO search_fts (rowid, content) VALUES (NEW.id, NEW.content);
    END
    """,
    """
    CREATE TRIGGER search_fts_delete AFTER DELETE ON search_documents BEGIN
        INSERT INTO search_fts (search_fts, rowid, content) VALUES ('delete', OLD.id, OLD.content);
    END
    """,
    """
    CREATE TRIGGER search_fts_update AFTER UPDATE OF content ON search_documents BEGIN
        INSERT INTO search_fts (search_fts, rowid, content) VALUES ('delete', OLD.id, OLD.content);
        INSERT INTO search_fts (rowid, content) VALUES (NEW.id, NEW.content);
    END
    """,
    """
    CREATE TRIGGER search_index_message_insert AFTER INSERT ON messages BEGIN
        INSERT INTO search_documents (conversation_id, message_id, content)
        VALUES (NEW.conversation_id, NEW.id, NEW.content);
    END
    """,
    """
    CREATE TRIGGER search_index_message_update AFTER UPDATE OF content ON messages BEGIN
        UPDATE search_documents SET content = NEW.content WHERE message_id = NEW.id;
    END
    """,
    f"""
    CREATE TRIGGER search_index_span_insert AFTER INSERT ON spans BEGIN
        INSERT INTO search_documents (conversation_id, span_id, content)
        SELECT conversation_id, NEW.id, {sqlite_span_text('NEW')} FROM traces WHERE id = NEW.trace_id;
    END
    """,
    f"""
    CREATE TRIGGER search_index_span_update AFTER UPDATE OF inputs, outputs ON spans BEGIN
        UPDATE search_documents SET content = {sqlite_span_text('NEW')} WHERE span_id = NEW.id;
    END
    """,
]



def backfill(span_text: str) -> list[str]:
    """Documents for the rows written before this migration."""
    return [
        """
        INSERT INTO search_documents (conversation_id, message_id, content)
        SELECT conversation_id, id, content FROM messages
        """,
        f"""
        INSERT INTO search_documents (conversation_id, span_id, content)
        SELECT traces.conversation_id, spans.id, {span_text}
        FROM spans JOIN traces ON traces.id = spans.trace_id
        """,
    ]


def upgrade() -> None:
    op.create_table('scores',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('target', sa.Enum('MESSAGE', 'SPAN', 'TRACE', 'CONVERSATION', name='scoretarget', native_enum=False, length=32), nullable=False),
    sa.Column('message_id', sa.Uuid(), nullable=True),
    sa.Column('trace_id', sa.Uuid(), nullable=True),
    sa.Column('span_id', sa.Uuid(), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sa.Enum('NUMERIC', 'CATEGORICAL', 'BOOLEAN', name='scorekind', native_enum=False, length=32), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('source', sa.Enum('HUMAN', 'LLM', 'CODE', name='scoresource', native_enum=False, length=32), nullable=False),
    sa.Column('author_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_scores_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_scores_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['span_id'], ['spans.id'], name=op.f('fk_scores_span_id_spans'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trace_id'], ['traces.id'], name=op.f('fk_scores_trace_id_traces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scores'))
    )
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scores_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scores_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scores_span_id'), ['span_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scores_trace_id'), ['trace_id'], unique=False)
        batch_op.create_index('ix_scores_name_created', ['name', 'created_at'], unique=False)

    op.create_table('search_documents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('message_id', sa.Uuid(), nullable=True),
    sa.Column('span_id', sa.Uuid(), nullable=True),
    sa.Column('content', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_search_documents_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_search_documents_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['span_id'], ['spans.id'], name=op.f('fk_search_documents_span_id_spans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_documents')),
    sa.UniqueConstraint('message_id', name=op.f('uq_search_documents_message_id')),
    sa.UniqueConstraint('span_id', name=op.f('uq_search_documents_span_id'))
    )
    with op.batch_alter_table('search_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_documents_conversation_id'), ['conversation_id'], unique=False)

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pinned_facts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), server_default=sa.text("'[]'"), nullable=False))

    if op.get_bind().dialect.name == 'postgresql':
        statements = [*POSTGRESQL_SEARCH, *backfill(POSTGRESQL_SPAN_TEXT)]
    else:
        statements = [*SQLITE_SEARCH, *backfill(sqlite_span_text('spans'))]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for statement in (
            'DROP TRIGGER search_index_span ON spans',
            'DROP TRIGGER search_index_message ON messages',
            'DROP FUNCTION threadline_index_span()',
            'DROP FUNCTION threadline_index_message()',
            'DROP FUNCTION threadline_json_strings(jsonb)',
        ):
            op.execute(statement)
    else:
        for trigger in (
            'search_index_span_update',
            'search_index_span_insert',
            'search_index_message_update',
            'search_index_message_insert',
            # They name search_fts: SQLite refuses later table changes while they stand.
            'search_fts_update',
            'search_fts_delete',
            'search_fts_insert',
        ):
            op.execute(f'DROP TRIGGER {trigger}')
        op.execute('DROP TABLE search_fts')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('pinned_facts')
    op.drop_table('search_documents')
    op.drop_table('scores')
