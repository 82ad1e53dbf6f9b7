"""read indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A conversation's traces and plans are read in list order from these; they
    # also serve every lookup the single-column conversation_id indexes did.
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.create_index('ix_traces_conversation_started', ['conversation_id', 'started_at', 'id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_traces_conversation_id'))

    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.create_index('ix_plans_conversation_created', ['conversation_id', 'created_at', 'id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_plans_conversation_id'))

    # The `tag` filter (jsonb @>) on PostgreSQL; SQLite gets a plain index.
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_tags', ['tags'], unique=False, postgresql_using='gin')


def downgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_tags', postgresql_using='gin')

    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plans_conversation_id'), ['conversation_id'], unique=False)
        batch_op.drop_index('ix_plans_conversation_created')

    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_traces_conversation_id'), ['conversation_id'], unique=False)
        batch_op.drop_index('ix_traces_conversation_started')
