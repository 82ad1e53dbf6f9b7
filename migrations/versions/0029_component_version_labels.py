"""component version labels (issue 19): a label, a description, tags, who registered it, deprecation

A version may carry a label ("v3", "2026-12-rollout") unique within its component: a
partial unique index of the labelled versions. Versions registered before this records
who registered them are attributed to their component's owner (a user): until now only
the owner (or development mode, whose user owns what it registers) could add versions.
A component without an owner leaves its versions' registrant unknown (NULL).

Revision ID: 0029
Revises: 0028
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As models.component.LABELLED: PostgreSQL prints it back unchanged.
LABELLED = sa.text("version_name IS NOT NULL")
INDEX = "uq_component_versions_component_id_version_name"
COLUMNS = (
    "version_name",
    "description",
    "tags",
    "created_by_id",
    "created_by_type",
    "deprecated_at",
    "deprecation_reason",
)


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    participant_type = sa.Enum(
        "USER",
        "AGENT",
        "SYSTEM",
        name="participanttype",
        native_enum=False,
        length=32,
        create_constraint=False,
    )
    text = sqlmodel.sql.sqltypes.AutoString()
    # Plain ALTERs: SQLite adds (and drops) nullable or defaulted columns in place.
    op.add_column("component_versions", sa.Column("version_name", text, nullable=True))
    op.add_column("component_versions", sa.Column("description", sa.Text(), nullable=True))
    op.add_column(
        "component_versions",
        sa.Column("tags", json_type, server_default=sa.text("'[]'"), nullable=False),
    )
    op.add_column("component_versions", sa.Column("created_by_id", text, nullable=True))
    op.add_column(
        "component_versions", sa.Column("created_by_type", participant_type, nullable=True)
    )
    op.add_column(
        "component_versions",
        sa.Column("deprecated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    )
    op.add_column("component_versions", sa.Column("deprecation_reason", sa.Text(), nullable=True))
    op.execute(
        "UPDATE component_versions SET created_by_type = 'USER', created_by_id = ("
        "SELECT c.owner_id FROM components AS c WHERE c.id = component_versions.component_id)"
        " WHERE EXISTS (SELECT 1 FROM components AS c"
        " WHERE c.id = component_versions.component_id AND c.owner_id IS NOT NULL)"
    )
    op.create_index(
        INDEX,
        "component_versions",
        ["component_id", "version_name"],
        unique=True,
        postgresql_where=LABELLED,
        sqlite_where=LABELLED,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="component_versions")
    for name in reversed(COLUMNS):
        op.drop_column("component_versions", name)
