"""indexes for the root list of tool calls (issue 22)

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each a range per status (and tool) in start order: resolvers/tool_call_list.py reads the
# list group by group. Plain CREATE INDEX on both databases: batch mode would rebuild
# tool_calls on SQLite.
INDEXES = {
    "ix_tool_calls_status_started": ["status", "started_at", "id"],
    "ix_tool_calls_tool_status_started": ["tool_name", "status", "started_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "tool_calls", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="tool_calls")
