"""execution state (issue 19 section 1): the state a trace's run started from, and each
span's memory, conversation context and structured error

Nullable columns without a default: adding them rewrites no rows (spans are the
largest table), and rows without a value keep none (SQL NULL).

Revision ID: 0030
Revises: 0029
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    "traces": ("initial_memory_state", "initial_conversation_state", "system_config"),
    "spans": ("memory_snapshot", "conversation_context", "error_details"),
}


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
    )


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: no batch copy of the spans table on SQLite.
    for table, columns in COLUMNS.items():
        for column in columns:
            op.add_column(table, sa.Column(column, _json(), nullable=True))


def downgrade() -> None:
    # DROP COLUMN, which SQLite has had since 3.35, without a batch copy either.
    for table, columns in COLUMNS.items():
        for column in reversed(columns):
            op.drop_column(table, column)
