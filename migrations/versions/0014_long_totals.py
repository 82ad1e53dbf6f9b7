"""long_totals (issue 16): conversations' and traces' token totals in 64 bits

Only PostgreSQL changes: on SQLite the models give these columns INTEGER, which is
64-bit there already.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOTALS = {
    "conversations": ("input_tokens", "output_tokens", "total_tokens"),
    "traces": ("total_tokens",),
}
INT_MAX = 2**31 - 1


def _retype(sql_type: str, using: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in TOTALS.items():
        changes = ", ".join(
            f"ALTER COLUMN {c} TYPE {sql_type} USING {using.format(c=c)}" for c in columns
        )
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    _retype("BIGINT", "{c}")


def downgrade() -> None:
    # 32 bits held no more before: a larger total is kept at the most they can hold.
    _retype("INTEGER", f"LEAST({{c}}, {INT_MAX})")
