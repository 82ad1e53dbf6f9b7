"""usage reads at millions of spans (issue 16): messages indexed by time, the roll-up
tables by scope and period, and the latency sketch per month (latency_months, fed by
compaction)

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, index replaced, its replacement, the period column): a range's rows of one
# scope are read without the other scopes' rows.
SCOPED = (
    ("usage_rollups", "ix_usage_rollups_hour", "ix_usage_rollups_scope_hour", "hour"),
    ("usage_days", "ix_usage_days_day", "ix_usage_days_scope_day", "day"),
    ("latency_buckets", "ix_latency_buckets_day", "ix_latency_buckets_scope_day", "day"),
)
KEYS = "kind, model, provider, scope, version_id, bucket"


def _month(day: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"date_trunc('month', {day}, 'UTC')"
    return f"strftime('%Y-%m-01 00:00:00.000000', {day})"


def upgrade() -> None:
    # The ragged ends of a usage range read model-call messages by time.
    op.create_index("ix_messages_created", "messages", ["created_at"])
    for table, old, new, period in SCOPED:
        op.drop_index(old, table_name=table)
        op.create_index(new, table, ["scope", period])
    op.create_table(
        "latency_months",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("month", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("scope", sa.SmallInteger(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=True),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("compacted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_latency_months")),
    )
    op.create_index("ix_latency_months_scope_month", "latency_months", ["scope", "month"])
    pending = sa.text("NOT compacted")
    op.create_index(
        "ix_latency_months_pending",
        "latency_months",
        ["month"],
        postgresql_where=pending,
        sqlite_where=pending,
    )
    # What compaction would have added: the day rows it merged so far.
    op.execute(
        f"INSERT INTO latency_months (month, {KEYS}, calls, compacted) "
        f"SELECT {_month('day')}, {KEYS}, sum(calls), false FROM latency_buckets "
        f"WHERE compacted GROUP BY 1, {KEYS} HAVING sum(calls) != 0"
    )


def downgrade() -> None:
    op.drop_table("latency_months")
    for table, old, new, period in SCOPED:
        op.drop_index(new, table_name=table)
        op.create_index(old, table, [period])
    op.drop_index("ix_messages_created", table_name="messages")
