"""message kinds (issue 19 section 1): each message's turn, type, confidence and
references, and when a plan ended

A turn is a user prompt with everything answering it: each message keeps the id of the
message that opened its turn (a soft reference, as `span_id`). Existing rows are given
their turns by the rule new rows follow (resolvers.message_kinds): a user's prompt opens
one, a message without a parent its own, and the rest join their parent's; so a branch
(an edit, a regenerated answer) answers the prompt it grew from, not the latest by
number, and a user's answer to an agent's question (its USER_ANSWER event) continues the
question's turn. Types come from their role, status and tool calls, and an agent's
question (its ASK_USER event) is a QUESTION, so old and new rows read alike. References
are rows of their own, in order, owned by their message.

Revision ID: 0031
Revises: 0030
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32, create_constraint=False)


MESSAGE_TYPE = _enum(
    "TEXT",
    "ANSWER",
    "QUESTION",
    "THOUGHT",
    "PLAN",
    "TOOL_CALL",
    "TOOL_RESULT",
    "ERROR",
    name="messagetype",
)
REFERENCE_KIND = _enum("MESSAGE", "SPAN", "DOCUMENT", name="referencekind")

# Down the parent links from the roots: each message is visited once, however long its
# conversation (walking up from each message would cost a conversation without a user
# prompt the square of its length). UPDATE ... FROM: PostgreSQL, and SQLite since 3.33.
TURNS = """
WITH RECURSIVE turns (id, turn) AS (
    SELECT id, id FROM messages WHERE parent_message_id IS NULL
    UNION ALL
    SELECT child.id, CASE
        WHEN child.role = 'USER' AND NOT EXISTS (
            SELECT 1 FROM events
            WHERE events.message_id = child.id AND events.kind = 'USER_ANSWER'
        ) THEN child.id
        ELSE turns.turn
    END
    FROM messages AS child JOIN turns ON child.parent_message_id = turns.id
)
UPDATE messages SET turn_message_id = turns.turn FROM turns WHERE turns.id = messages.id
"""
TYPES = """
UPDATE messages SET message_type = CASE
    WHEN status = 'ERROR' THEN 'ERROR'
    WHEN EXISTS (
        SELECT 1 FROM events
        WHERE events.message_id = messages.id AND events.kind = 'ASK_USER'
    ) THEN 'QUESTION'
    WHEN role = 'TOOL' THEN 'TOOL_RESULT'
    WHEN EXISTS (SELECT 1 FROM tool_calls WHERE tool_calls.message_id = messages.id)
        THEN 'TOOL_CALL'
    ELSE 'ANSWER'
END
WHERE status = 'ERROR' OR role IN ('TOOL', 'ASSISTANT')
"""


def upgrade() -> None:
    # Plain ALTERs: SQLite adds nullable or defaulted columns in place.
    op.add_column("messages", sa.Column("turn_message_id", sa.Uuid(), nullable=True))
    op.add_column(
        "messages",
        sa.Column("message_type", MESSAGE_TYPE, server_default="TEXT", nullable=False),
    )
    op.add_column("messages", sa.Column("confidence", sa.Float(), nullable=True))
    op.add_column(
        "plans", sa.Column("completed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    # PostgreSQL's estimates for the recursion's levels favour hashing the whole table at
    # each level (past 4 minutes at 1M messages); the parent index walks it in seconds.
    planner = ("enable_hashjoin", "enable_mergejoin") if postgres else ()
    for setting in planner:
        op.execute(f"SET LOCAL {setting} = off")
    op.execute(TURNS)
    for setting in planner:
        op.execute(f"RESET {setting}")
    op.execute(TYPES)
    op.execute(
        "UPDATE plans SET completed_at = updated_at"
        " WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')"
    )
    op.create_table(
        "message_references",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", REFERENCE_KIND, nullable=False),
        sa.Column("target_message_id", sa.Uuid(), nullable=True),
        sa.Column("target_span_id", sa.Uuid(), nullable=True),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("message_references")
    op.drop_column("plans", "completed_at")
    # SQLite (3.35+) drops these columns in place, without a batch copy.
    for name in ("confidence", "message_type", "turn_message_id"):
        op.drop_column("messages", name)
