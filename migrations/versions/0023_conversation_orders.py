"""indexes for conversations ordered by cost, tokens and message count (issue 22)

Each list order reads its page as a range of an index on (value, id), as
ix_conversations_last_activity does for the default order: the cursor's row comparison
is that index's range, forwards or backwards, and LIMIT stops the read.

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain CREATE INDEX on both databases: batch mode would rebuild conversations on SQLite.
ORDERED_BY = ("cost", "total_tokens", "message_count")


def upgrade() -> None:
    for column in ORDERED_BY:
        op.create_index(f"ix_conversations_{column}", "conversations", [column, "id"])


def downgrade() -> None:
    for column in ORDERED_BY:
        op.drop_index(f"ix_conversations_{column}", table_name="conversations")
