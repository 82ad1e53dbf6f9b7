"""ingestion (issue 6)

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ingest_receipts',
    sa.Column('owner_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('client_event_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('node_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('owner_id', 'client_event_id', name=op.f('pk_ingest_receipts'))
    )
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    with op.batch_alter_table('spans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('external_parent_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_spans_trace_id_external_id'), ['trace_id', 'external_id'])
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ingest_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_messages_conversation_id_ingest_key'), ['conversation_id', 'ingest_key'])


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_messages_conversation_id_ingest_key'), type_='unique')
        batch_op.drop_column('ingest_key')
    with op.batch_alter_table('spans', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_spans_trace_id_external_id'), type_='unique')
        batch_op.drop_column('external_parent_id')
        batch_op.drop_column('external_id')
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.drop_column('external_id')
    op.drop_table('ingest_receipts')
