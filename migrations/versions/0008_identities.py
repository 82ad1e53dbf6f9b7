"""identities nobody can forge (issue 14): registered agents, typed owners, owned components

Revision ID: 0008
Revises: 0007

An API key used to speak as whatever `agentId` its creator typed, and that id was then
trusted as a participant: anyone could claim anyone's conversations. Agents become
principals owned by users. Existing keys keep their agent where the claim is sound;
a key whose agent id is also a user's id, or that another owner's older key claimed
first, loses it, and this migration logs each one.
"""

import logging
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("threadline.migrations")

USER_IDS = """
    SELECT owner_id FROM api_keys
    UNION SELECT owner_id FROM conversations
    UNION SELECT participant_id FROM participants WHERE participant_type = 'USER'
"""
# The first user to make a key for an agent id keeps it.
FIRST_CLAIMS = """
    SELECT agent_id, owner_id FROM api_keys AS k
    WHERE agent_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM api_keys AS older
        WHERE older.agent_id = k.agent_id
          AND (older.created_at < k.created_at
               OR (older.created_at = k.created_at AND older.id < k.id))
    )
"""
# A component's owner: whoever owns the conversation of the earliest span that used it.
COMPONENT_OWNERS = """
    UPDATE components SET owner_id = (
        SELECT c.owner_id FROM component_versions AS v
        JOIN span_component_versions AS l ON l.component_version_id = v.id
        JOIN spans AS s ON s.id = l.span_id
        JOIN traces AS t ON t.id = s.trace_id
        JOIN conversations AS c ON c.id = t.conversation_id
        WHERE v.component_id = components.id AND c.owner_type = 'USER'
        ORDER BY s.started_at, s.id LIMIT 1
    )
"""


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_agents_owner_id"), "agents", ["owner_id"], unique=False)
    owner_type = sa.Enum(
        "USER",
        "AGENT",
        "SYSTEM",
        name="participanttype",
        native_enum=False,
        length=32,
        create_constraint=False,
    )
    # Plain ALTERs, not batch copies: SQLite adds and drops these columns in place, and
    # copying `conversations` (which every table refers to) fails while it is in use.
    server_user = {"nullable": False, "server_default": "USER"}
    op.add_column("conversations", sa.Column("owner_type", owner_type, **server_user))
    op.execute(
        "UPDATE conversations SET owner_type = 'AGENT' WHERE EXISTS (SELECT 1 FROM participants"
        " AS p WHERE p.conversation_id = conversations.id AND p.participant_type = 'AGENT'"
        " AND p.participant_id = conversations.owner_id)"
    )
    op.add_column("scores", sa.Column("author_type", owner_type, **server_user))
    op.add_column(
        "components", sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
    )
    op.add_column(
        "components",
        sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(op.f("ix_components_owner_id"), "components", ["owner_id"], unique=False)
    # The key of ingested ids (resolvers.ingest.namespace): telemetry sent from now on is
    # numbered anew, so a session that goes on across the upgrade goes on in a new
    # conversation.
    op.create_table(
        "installation_secrets",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.execute(
        sa.text("INSERT INTO installation_secrets (name, value) VALUES ('ingest-namespace', :v)")
        .bindparams(v=secrets.token_hex(32))
    )
    _register_agents_of_keys()
    op.execute(COMPONENT_OWNERS)
    bind = op.get_bind()
    for (key,) in bind.execute(sa.text("SELECT key FROM components WHERE owner_id IS NULL")):
        log.warning("component '%s' has no owner: only development mode may add versions", key)


def _register_agents_of_keys() -> None:
    bind = op.get_bind()
    users = {row[0] for row in bind.execute(sa.text(USER_IDS))}
    claims = dict(bind.execute(sa.text(FIRST_CLAIMS)).all())
    keys = bind.execute(
        sa.text("SELECT id, owner_id, agent_id FROM api_keys WHERE agent_id IS NOT NULL")
    ).all()
    for key_id, owner_id, agent_id in keys:
        if agent_id in users or claims.get(agent_id) != owner_id:
            why = "a user's id" if agent_id in users else "another owner's agent"
            log.warning(
                "API key %s of '%s' loses agent id '%s': it is %s", key_id, owner_id, agent_id, why
            )
            bind.execute(
                sa.text("UPDATE api_keys SET agent_id = NULL WHERE id = :id"), {"id": key_id}
            )
    owners = {agent: owner for agent, owner in claims.items() if agent not in users}
    # Agents that only ever took part in conversations go to the owner of the first one,
    # so that nobody can register their id later and read those conversations.
    seen = bind.execute(
        sa.text(
            "SELECT p.participant_id, c.owner_id FROM participants AS p"
            " JOIN conversations AS c ON c.id = p.conversation_id"
            " WHERE p.participant_type = 'AGENT' AND c.owner_type = 'USER'"
            " ORDER BY p.joined_at, p.id"
        )
    ).all()
    for agent_id, owner_id in seen:
        owners.setdefault(agent_id, owner_id)
    for agent_id, owner_id in owners.items():
        bind.execute(
            sa.text(
                "INSERT INTO agents (id, owner_id, created_at) "
                "VALUES (:id, :owner, CURRENT_TIMESTAMP)"
            ),
            {"id": agent_id, "owner": owner_id},
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_components_owner_id"), table_name="components")
    op.drop_column("components", "private")
    op.drop_column("components", "owner_id")
    op.drop_column("scores", "author_type")
    op.drop_column("conversations", "owner_type")
    op.drop_table("installation_secrets")
    op.drop_index(op.f("ix_agents_owner_id"), table_name="agents")
    op.drop_table("agents")
