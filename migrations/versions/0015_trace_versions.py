"""trace_versions (issue 16): each trace's component versions and how many of its spans
used each, kept by triggers on span links and spans, so that scores group by version
without reading every span's links

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKS = "span_component_versions"
UPSERT = (
    " ON CONFLICT (trace_id, component_version_id)"
    " DO UPDATE SET spans = trace_versions.spans + excluded.spans"
)


def _counted(links: str) -> str:
    """(trace, version, spans) of the links in `links` (aliased l) whose span exists."""
    return (
        f"SELECT s.trace_id, l.component_version_id, count(*) FROM {links} l "
        "JOIN spans s ON s.id = l.span_id GROUP BY s.trace_id, l.component_version_id"
    )


def _take_off(trace: str, versions: str) -> list[str]:
    """One span less for each of `versions` of `trace`; a version no span uses goes.
    Nothing while the trace itself is being deleted: its rows go by cascade, and
    updating them then would fail their foreign key."""
    return [
        f"UPDATE trace_versions SET spans = spans - 1 "
        f"WHERE trace_id = {trace} AND component_version_id IN ({versions}) "
        f"AND EXISTS (SELECT 1 FROM traces WHERE traces.id = {trace})",
        f"DELETE FROM trace_versions WHERE trace_id = {trace} AND spans <= 0",
    ]


# A link removed with its span (by a span, trace or conversation delete) finds no span:
# the span counted itself out before it went, or its trace's rows go by cascade.
LINK_DELETED = _take_off(
    "(SELECT trace_id FROM spans WHERE id = OLD.span_id)", "OLD.component_version_id"
)
# Before: the span's links still exist.
SPAN_DELETED = _take_off(
    "OLD.trace_id", f"SELECT component_version_id FROM {LINKS} WHERE span_id = OLD.id"
)


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    timing: str
    statements: list[str]
    # A PostgreSQL statement-level trigger's transition table of new rows.
    new_table: str = ""


def _triggers(postgresql: bool) -> list[Trigger]:
    # PostgreSQL counts a batch of links (one ingest statement) at once.
    inserted = (
        Trigger(
            "trace_versions_link_insert",
            LINKS,
            "AFTER INSERT",
            [
                f"INSERT INTO trace_versions (trace_id, component_version_id, spans) "
                f"{_counted('new_links')}{UPSERT}"
            ],
            new_table="new_links",
        )
        if postgresql
        else Trigger(
            "trace_versions_link_insert",
            LINKS,
            "AFTER INSERT",
            # WHERE before ON CONFLICT: SQLite would read a bare ON as a join's.
            [
                "INSERT INTO trace_versions (trace_id, component_version_id, spans) "
                "SELECT trace_id, NEW.component_version_id, 1 FROM spans "
                f"WHERE id = NEW.span_id{UPSERT}"
            ],
        )
    )
    return [
        inserted,
        Trigger("trace_versions_link_delete", LINKS, "AFTER DELETE", LINK_DELETED),
        Trigger("trace_versions_span_delete", "spans", "BEFORE DELETE", SPAN_DELETED),
    ]


def _create(postgresql: bool, trigger: Trigger) -> list[str]:
    body = ";\n".join(trigger.statements)
    if not postgresql:
        return [
            f"CREATE TRIGGER {trigger.name} {trigger.timing} ON {trigger.table} "
            f"FOR EACH ROW BEGIN {body}; END"
        ]
    # A BEFORE DELETE trigger's row must be returned, or the delete is skipped.
    returned = "OLD" if trigger.timing.startswith("BEFORE") else "NULL"
    each = "STATEMENT" if trigger.new_table else "ROW"
    referencing = f"REFERENCING NEW TABLE AS {trigger.new_table} " if trigger.new_table else ""
    return [
        f"CREATE FUNCTION threadline_{trigger.name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body}; RETURN {returned}; END $$",
        f"CREATE TRIGGER {trigger.name} {trigger.timing} ON {trigger.table} {referencing}"
        f"FOR EACH {each} EXECUTE FUNCTION threadline_{trigger.name}()",
    ]


def upgrade() -> None:
    op.create_table(
        "trace_versions",
        sa.Column("trace_id", sa.Uuid(), nullable=False),
        sa.Column("component_version_id", sa.Uuid(), nullable=False),
        sa.Column("spans", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_version_id"],
            ["component_versions.id"],
            name=op.f("fk_trace_versions_component_version_id_component_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trace_id"],
            ["traces.id"],
            name=op.f("fk_trace_versions_trace_id_traces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trace_id", "component_version_id", name=op.f("pk_trace_versions")),
    )
    op.create_index(
        op.f("ix_trace_versions_component_version_id"), "trace_versions", ["component_version_id"]
    )
    op.execute(
        f"INSERT INTO trace_versions (trace_id, component_version_id, spans) {_counted(LINKS)}"
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in _triggers(postgresql):
        for statement in _create(postgresql, trigger):
            op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in _triggers(postgresql):
        op.execute(f"DROP TRIGGER {trigger.name}" + (f" ON {trigger.table}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION threadline_{trigger.name}()")
    op.drop_index(op.f("ix_trace_versions_component_version_id"), table_name="trace_versions")
    op.drop_table("trace_versions")
