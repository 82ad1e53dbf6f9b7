"""routing decisions (issue 19): why a message went where it went, and the run answering it

A message keeps the decision its sender's router made (JSON), the decision's route as
a column of its own (`routeStats` counts by it without reading JSON), and the run
answering it: a trace or an agent session, by plain id (not foreign keys, as
`span_id`: traces and agent sessions point at messages already). The routed messages
of a time range are read by an index of those rows alone.

Revision ID: 0028
Revises: 0027
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROUTED = sa.text("route IS NOT NULL")


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.add_column("messages", sa.Column("routing_decision", json_type, nullable=True))
    op.add_column("messages", sa.Column("route", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column("messages", sa.Column("run_trace_id", sa.Uuid(), nullable=True))
    op.add_column("messages", sa.Column("run_session_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_messages_routed",
        "messages",
        ["created_at", "route"],
        postgresql_where=ROUTED,
        sqlite_where=ROUTED,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_routed", table_name="messages")
    # Columns of a large table: SQLite (3.35+) drops them in place, without a batch copy.
    for name in ("run_session_id", "run_trace_id", "route", "routing_decision"):
        op.drop_column("messages", name)
