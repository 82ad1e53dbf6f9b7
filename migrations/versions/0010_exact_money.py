"""exact money and one usage model (issue 15): costs in nano-dollars, where each cost
came from, cached input tokens, the span that produced a message, owners' prices, and
OTLP log records waiting for their span

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY_TABLES = ("conversations", "messages", "traces", "spans")
USAGE_TABLES = ("messages", "spans")
NANOS = 1_000_000_000


def upgrade() -> None:
    for table in MONEY_TABLES:
        _change_cost(table, "BIGINT", f"round(cost * {NANOS})")
    for table in USAGE_TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(
                sa.Column("cached_input_tokens", sa.Integer(), server_default="0", nullable=False)
            )
            batch_op.add_column(
                sa.Column(
                    "cost_source",
                    sa.Enum(
                        "REPORTED",
                        "PRICED",
                        "NONE",
                        name="costsource",
                        native_enum=False,
                        length=32,
                    ),
                    server_default="NONE",
                    nullable=False,
                )
            )
            batch_op.add_column(
                sa.Column("price_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
            )
        op.execute(f"UPDATE {table} SET cost_source = 'REPORTED' WHERE cost <> 0")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("span_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_messages_span_id"), ["span_id"], unique=False)
    op.create_table(
        "model_prices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("input_per_million", sa.BigInteger(), nullable=False),
        sa.Column("output_per_million", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_per_million", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_prices")),
        sa.UniqueConstraint("owner_id", "model", name=op.f("uq_model_prices_owner_id_model")),
    )
    with op.batch_alter_table("model_prices") as batch_op:
        batch_op.create_index(batch_op.f("ix_model_prices_owner_id"), ["owner_id"], unique=False)
    op.create_table(
        "otlp_log_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("trace_id", sa.Uuid(), nullable=False),
        sa.Column("span_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "records", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otlp_log_records")),
    )
    with op.batch_alter_table("otlp_log_records") as batch_op:
        for column in ("trace_id", "span_id", "received_at"):
            batch_op.create_index(
                batch_op.f(f"ix_otlp_log_records_{column}"), [column], unique=False
            )


def downgrade() -> None:
    op.drop_table("otlp_log_records")
    op.drop_table("model_prices")
    op.drop_index(op.f("ix_messages_span_id"), table_name="messages")
    # Native drops: batch mode would rebuild the tables (see _change_cost).
    for table, columns in (
        ("messages", ("span_id", "price_id", "cost_source", "cached_input_tokens")),
        ("spans", ("price_id", "cost_source", "cached_input_tokens")),
    ):
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    for table in MONEY_TABLES:
        _change_cost(table, "FLOAT", f"cost / {NANOS}.0")


def _change_cost(table: str, sql_type: str, value: str) -> None:
    """Give `cost` a new type and value. On SQLite by native ALTERs: batch mode would
    rebuild the table, and dropping the old one (foreign keys on) cascades to its children."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {table} ALTER COLUMN cost TYPE {sql_type} USING {value}")
        return
    op.execute(f"ALTER TABLE {table} ADD COLUMN new_cost {sql_type} NOT NULL DEFAULT 0")
    op.execute(f"UPDATE {table} SET new_cost = {value}")
    op.execute(f"ALTER TABLE {table} DROP COLUMN cost")
    op.execute(f"ALTER TABLE {table} RENAME COLUMN new_cost TO cost")
