"""data lifecycle (issue 9)

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Retention counts an archived conversation's age from archived_at; conversations
    # archived before this revision count from their last update.
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('forked_from_conversation_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('forked_from_message_id', sa.Uuid(), nullable=True))
    op.execute("UPDATE conversations SET archived_at = updated_at WHERE status = 'ARCHIVED'")


def downgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('forked_from_message_id')
        batch_op.drop_column('forked_from_conversation_id')
        batch_op.drop_column('archived_at')
