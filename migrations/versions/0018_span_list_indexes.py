"""span list indexes (issue 16): the root span list's value orders, each group by group

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain CREATE INDEX on both databases: batch mode would rebuild spans on SQLite.
# ix_spans_kind_duration takes over from ix_spans_duration (0012), which no list reads now.
INDEXES = {
    "ix_spans_kind_duration": (["kind", "duration_ms", "id"], None),
    # Spans without a model and with a zero value are left out (models/trace.py:
    # value_indexed): most spans, read in id order from the primary key.
    "ix_spans_model_tokens": (
        ["model", "total_tokens", "id"],
        "model IS NOT NULL OR total_tokens != 0",
    ),
    "ix_spans_model_cost": (["model", "cost", "id"], "model IS NOT NULL OR cost != 0"),
}


# Which (status, model, kind) combinations exist: PostgreSQL otherwise takes the three as
# independent, expects LLM spans without a model to be common, and looks for one by
# reading spans in turn (resolvers/analytics/spans.py asks, for each group it reads).
STATISTICS = "st_spans_status_model_kind"


def upgrade() -> None:
    op.drop_index("ix_spans_duration", table_name="spans")
    for name, (columns, where) in INDEXES.items():
        predicate = None if where is None else sa.text(where)
        op.create_index(name, "spans", columns, postgresql_where=predicate, sqlite_where=predicate)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE STATISTICS {STATISTICS} (mcv) ON status, model, kind FROM spans")
        # Its first figures now, not at autovacuum's next pass.
        op.execute("ANALYZE spans")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS {STATISTICS}")
    for name in INDEXES:
        op.drop_index(name, table_name="spans")
    nulls_last = " NULLS LAST" if op.get_bind().dialect.name == "postgresql" else ""
    op.create_index("ix_spans_duration", "spans", [sa.text(f"duration_ms DESC{nulls_last}")])
