"""agent sessions: the indexes of the sweeper's timeouts and of the root list (issue 19)

The sweeper reads the open sessions of one status silent since before a cutoff
(AWAITING_USER ones go STALE, ACTIVE ones FAIL): a partial index of the open rows by
status and last interaction. The root `agentSessions` list reads sessions newest first.

Revision ID: 0026
Revises: 0025
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An OR, not an IN list: PostgreSQL prints it back unchanged (models.event.OPEN_EITHER).
OPEN = sa.text("(status = 'ACTIVE' OR status = 'AWAITING_USER')")


def upgrade() -> None:
    op.create_index(
        "ix_agent_sessions_open_last_interaction",
        "agent_sessions",
        ["status", "last_interaction_at"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_agent_sessions_started", "agent_sessions", ["started_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_agent_sessions_started", table_name="agent_sessions")
    op.drop_index("ix_agent_sessions_open_last_interaction", table_name="agent_sessions")
