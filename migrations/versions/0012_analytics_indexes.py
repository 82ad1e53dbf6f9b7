"""analytics indexes (issue 16): spans by start, by duration, and by status, model and kind

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain CREATE INDEX on both databases: batch mode would rebuild spans on SQLite.
INDEXES = {
    "ix_spans_started": ["started_at"],
    "ix_spans_status_model_kind": ["status", "model", "kind"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "spans", columns)
    # Slowest first with nulls last: SQLite cannot say NULLS LAST in an index, and its
    # DESC puts nulls last anyway.
    nulls_last = " NULLS LAST" if op.get_bind().dialect.name == "postgresql" else ""
    op.create_index("ix_spans_duration", "spans", [sa.text(f"duration_ms DESC{nulls_last}")])


def downgrade() -> None:
    for name in ["ix_spans_duration", *INDEXES]:
        op.drop_index(name, table_name="spans")
