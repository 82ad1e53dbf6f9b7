"""indexes on the events columns that reference deleted rows (issue 22)

Deleting a message, span, trace... sets the events' (and an agent session's) column
pointing at it to NULL (ON DELETE SET NULL). Without an index, every deleted row scanned
the whole table: a conversation of 20,000 messages took over a minute to delete. Most
events are about a message, so that index holds every row; the other columns are set
in few rows, and their indexes hold only those (all that `column = X` reads).

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FULL = [("events", "message_id")]
PARTIAL = [
    ("events", "tool_call_id"),
    ("events", "trace_id"),
    ("events", "span_id"),
    ("events", "plan_id"),
    ("events", "plan_step_id"),
    ("events", "participant_id"),
    ("events", "agent_session_id"),
    ("agent_sessions", "message_id"),
]


def upgrade() -> None:
    for table, column in FULL:
        op.create_index(f"ix_{table}_{column}", table, [column])
    for table, column in PARTIAL:
        is_set = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_{table}_{column}", table, [column], postgresql_where=is_set, sqlite_where=is_set
        )


def downgrade() -> None:
    for table, column in FULL + PARTIAL:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
