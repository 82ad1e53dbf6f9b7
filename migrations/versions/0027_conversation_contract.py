"""the conversation API contract (issue 19): parent conversations, chat settings' creation

An agent-agent conversation can name the conversation it serves (a plain id, like a
fork's provenance: the parent may be deleted, the child stays); `childConversations`
reads them by that id. Chat settings record when they were made; existing ones take
their last update as that time.

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("parent_conversation_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_conversations_parent_conversation_id", "conversations", ["parent_conversation_id"]
    )
    op.add_column(
        "chat_settings",
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    )
    op.execute("UPDATE chat_settings SET created_at = updated_at")
    # A small table: SQLite's batch copy of it is cheap.
    with op.batch_alter_table("chat_settings") as batch_op:
        batch_op.alter_column(
            "created_at", existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_settings") as batch_op:
        batch_op.drop_column("created_at")
    op.drop_index("ix_conversations_parent_conversation_id", table_name="conversations")
    op.drop_column("conversations", "parent_conversation_id")
