"""score roll-ups (issue 16): each score counted once per component version its target
used, per conversation (score_rollups) and over everyone (score_totals), appended by
triggers on scores, span links, trace_versions and traces

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A pair's key: the roll-up rows group by it (frozen copy of models.score_rollups).
KEY = ("version_id", "target", "source", "name", "label", "value")
ROLLUP_COLUMNS = f"conversation_id, {', '.join(KEY)}, scores, compacted"
TOTAL_COLUMNS = f"{', '.join(KEY)}, scores, compacted"
# A score's columns that decide its pairs.
SCORE_COLUMNS = (
    "id",
    "conversation_id",
    "target",
    "message_id",
    "trace_id",
    "span_id",
    "name",
    "label",
    "value",
    "source",
)
LINKS = "span_component_versions"
# Which traces a message's or conversation's versions come from: (trace and score
# column, target).
OWNERS = (("message_id", "MESSAGE"), ("conversation_id", "CONVERSATION"))


@dataclass(frozen=True)
class Dialect:
    postgresql: bool

    @property
    def false(self) -> str:
        return "false" if self.postgresql else "0"

    def distinct(self, a: str, b: str) -> str:
        return f"{a} IS DISTINCT FROM {b}" if self.postgresql else f"{a} IS NOT {b}"

    def record(self, name: str, columns: Sequence[str]) -> str:
        """A row trigger's OLD or NEW as a one-row table, to join like a transition table."""
        return "(SELECT " + ", ".join(f"{name}.{c} AS {c}" for c in columns) + ")"


def _pairs(rows: str, sign: int, d: Dialect) -> str:
    """Append `rows` (one per score and version: the score's conversation and key) to
    score_rollups, counted `sign` times each, summed per key."""
    columns = f"p.conversation_id, {', '.join(f'p.{c}' for c in KEY)}"
    return (
        f"INSERT INTO score_rollups ({ROLLUP_COLUMNS}) SELECT {columns}, {sign} * count(*), "
        f"{d.false} FROM ({rows}) p GROUP BY {columns}"
    )


def _pair(version: str, sources: str, where: str) -> str:
    """(score, version) pairs as _pairs takes them, `s` the score. DISTINCT: a message's
    or conversation's traces may share a version, which counts once."""
    return (
        f"SELECT DISTINCT s.id, s.conversation_id, {version} AS version_id, s.target, "
        f"s.source, s.name, s.label, s.value FROM {sources} WHERE {where}"
    )


def _of_scores(scores: str) -> str:
    """Every pair of the scores in `scores`, with the versions their targets use now."""
    via_traces = "JOIN traces t ON t.{0} = s.{0} JOIN trace_versions v ON v.trace_id = t.id"
    joins = {
        "SPAN": f"JOIN {LINKS} v ON v.span_id = s.span_id",
        "TRACE": "JOIN trace_versions v ON v.trace_id = s.trace_id",
        **{target: via_traces.format(key) for key, target in OWNERS},
    }
    return " UNION ALL ".join(
        _pair("v.component_version_id", f"{scores} s {join}", f"s.target = '{target}'")
        for target, join in joins.items()
    )


def _of_links(links: str) -> str:
    """The pairs the span links in `links` make with their spans' scores."""
    return _pair(
        "r.component_version_id",
        f"{links} r JOIN scores s ON s.span_id = r.span_id",
        "s.target = 'SPAN'",
    )


def _of_trace_versions(rows: str) -> str:
    """The pairs the trace_versions rows in `rows` (just inserted, or about to be
    deleted) make: with their traces' scores, and with their messages' and
    conversations' where no other row gives that message or conversation the version."""
    version = "r.component_version_id"
    found = [
        _pair(version, f"{rows} r JOIN scores s ON s.trace_id = r.trace_id", "s.target = 'TRACE'")
    ]
    for key, target in OWNERS:
        other = (
            f"SELECT 1 FROM trace_versions x JOIN traces y ON y.id = x.trace_id "
            f"WHERE y.{key} = t.{key} AND x.component_version_id = {version} AND NOT EXISTS "
            f"(SELECT 1 FROM {rows} z WHERE z.trace_id = x.trace_id "
            "AND z.component_version_id = x.component_version_id)"
        )
        found.append(
            _pair(
                version,
                f"{rows} r JOIN traces t ON t.id = r.trace_id JOIN scores s ON s.{key} = t.{key}",
                f"s.target = '{target}' AND NOT EXISTS ({other})",
            )
        )
    return " UNION ALL ".join(found)


def _trace_moves(d: Dialect, record: str, sign: int, moved: bool) -> list[str]:
    """A trace (a row trigger's OLD or NEW) leaves (sign -1) or joins (1) its message and
    conversation: their scores lose or gain the trace's versions no other trace of theirs
    has; with `moved`, only for the key that changes. Before the change, row by row: a
    deleted trace's versions are still there to read, and the statement's earlier rows
    have changed already (a message deleted sets all its traces' message_id to null in
    one statement, whose AFTER row triggers PostgreSQL would run only at its end)."""
    found = []
    for key, target in OWNERS:
        other = (
            f"SELECT 1 FROM trace_versions x JOIN traces y ON y.id = x.trace_id "
            f"WHERE y.{key} = {record}.{key} AND y.id != {record}.id "
            "AND x.component_version_id = v.component_version_id"
        )
        where = f"v.trace_id = {record}.id AND s.target = '{target}' AND NOT EXISTS ({other})"
        if moved:
            where += f" AND {d.distinct(f'OLD.{key}', f'NEW.{key}')}"
        sources = f"trace_versions v JOIN scores s ON s.{key} = {record}.{key}"
        found.append(_pairs(_pair("v.component_version_id", sources, where), sign, d))
    return found


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    timing: str  # e.g. "AFTER INSERT", "BEFORE DELETE", "AFTER UPDATE OF a, b"
    statements: list[str]
    when: str = ""
    # On PostgreSQL, a statement-level trigger with this transition table ("NEW TABLE AS
    # x") instead of a row trigger.
    transition: str = ""


def _inserted(d: Dialect, columns: Sequence[str], name: str) -> tuple[str, str]:
    """The inserted rows as a table: PostgreSQL's transition table `new_<name>`, or
    SQLite's NEW row; and the REFERENCING clause of the former."""
    if not d.postgresql:
        return d.record("NEW", columns), ""
    return f"new_{name}", f"NEW TABLE AS new_{name}"


def _changes(
    d: Dialect, table: str, columns: Sequence[str], pairs: Callable[[str], str]
) -> list[Trigger]:
    """Inserts and deletes of `table`: the pairs its rows make, counted in or out.
    PostgreSQL counts a statement's inserted rows at once. A row is counted out before
    it goes, one at a time: PostgreSQL runs the statement-level triggers of a cascade's
    deletes only once the statement that started it has deleted everything, when the
    other side of a pair (a link's score, a score's link) may be gone too and neither
    would count the pair out."""
    inserted, referencing = _inserted(d, columns, table)
    return [
        Trigger(
            f"score_rollup_{table}_insert",
            table,
            "AFTER INSERT",
            [_pairs(pairs(inserted), 1, d)],
            transition=referencing,
        ),
        Trigger(
            f"score_rollup_{table}_delete",
            table,
            "BEFORE DELETE",
            [_pairs(pairs(d.record("OLD", columns)), -1, d)],
        ),
    ]


def _triggers(d: Dialect) -> list[Trigger]:
    score_changed = " OR ".join(d.distinct(f"OLD.{c}", f"NEW.{c}") for c in SCORE_COLUMNS[1:])
    trace_changed = " OR ".join(d.distinct(f"OLD.{key}", f"NEW.{key}") for key, _ in OWNERS)
    owners = ", ".join(key for key, _ in OWNERS)
    link_columns = ("span_id", "component_version_id")
    version_columns = ("trace_id", "component_version_id")
    totals, referencing = _inserted(d, ("compacted", *KEY, "scores"), "rollups")
    return [
        *_changes(d, "scores", SCORE_COLUMNS, _of_scores),
        Trigger(
            "score_rollup_scores_update",
            "scores",
            f"AFTER UPDATE OF {', '.join(SCORE_COLUMNS[1:])}",
            [
                _pairs(_of_scores(d.record("OLD", SCORE_COLUMNS)), -1, d),
                _pairs(_of_scores(d.record("NEW", SCORE_COLUMNS)), 1, d),
            ],
            score_changed,
        ),
        *_changes(d, LINKS, link_columns, _of_links),
        *_changes(d, "trace_versions", version_columns, _of_trace_versions),
        Trigger(
            "score_rollup_traces_update",
            "traces",
            f"BEFORE UPDATE OF {owners}",
            _trace_moves(d, "OLD", -1, moved=True) + _trace_moves(d, "NEW", 1, moved=True),
            trace_changed,
        ),
        Trigger(
            "score_rollup_traces_delete",
            "traces",
            "BEFORE DELETE",
            _trace_moves(d, "OLD", -1, moved=False),
        ),
        # Everyone's per version: each delta again, without its conversation (not the
        # rows compaction writes, which change no sum).
        Trigger(
            "score_totals_insert",
            "score_rollups",
            "AFTER INSERT",
            [
                f"INSERT INTO score_totals ({TOTAL_COLUMNS}) SELECT {', '.join(KEY)}, "
                f"sum(scores), {d.false} FROM {totals} r WHERE NOT r.compacted "
                f"GROUP BY {', '.join(KEY)}"
            ],
            transition=referencing,
        ),
    ]


def _create(d: Dialect, trigger: Trigger) -> list[str]:
    body = ";\n".join(trigger.statements)
    when = f" WHEN ({trigger.when})" if trigger.when else ""
    if not d.postgresql:
        return [
            f"CREATE TRIGGER {trigger.name} {trigger.timing} ON {trigger.table} "
            f"FOR EACH ROW{when} BEGIN {body}; END"
        ]
    # A BEFORE row trigger returns the row to go on with; an AFTER trigger's is ignored.
    returned = "NULL"
    if trigger.timing.startswith("BEFORE"):
        returned = "OLD" if "DELETE" in trigger.timing else "NEW"
    each = f"ROW{when}"
    referencing = ""
    if trigger.transition:
        each, referencing = "STATEMENT", f"REFERENCING {trigger.transition} "
    return [
        f"CREATE FUNCTION threadline_{trigger.name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body}; RETURN {returned}; END $$",
        f"CREATE TRIGGER {trigger.name} {trigger.timing} ON {trigger.table} {referencing}"
        f"FOR EACH {each} EXECUTE FUNCTION threadline_{trigger.name}()",
    ]


def _pair_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("scores", sa.BigInteger(), nullable=False),
        sa.Column("compacted", sa.Boolean(), nullable=False),
    ]


def _pending(table: str, key: str) -> None:
    merged = sa.text("NOT compacted")
    op.create_index(
        f"ix_{table}_pending", table, [key], postgresql_where=merged, sqlite_where=merged
    )


def upgrade() -> None:
    op.create_table(
        "score_rollups",
        *_pair_columns(),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_rollups")),
    )
    op.create_table(
        "score_totals",
        *_pair_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_totals")),
    )
    d = Dialect(op.get_bind().dialect.name == "postgresql")
    # The scores there are, merged already: one row per key.
    key = ", ".join(KEY)
    op.execute(
        f"INSERT INTO score_rollups ({ROLLUP_COLUMNS}) SELECT conversation_id, {key}, "
        f"count(*), true FROM ({_of_scores('scores')}) p GROUP BY conversation_id, {key}"
    )
    op.execute(
        f"INSERT INTO score_totals ({TOTAL_COLUMNS}) SELECT {key}, sum(scores), true "
        f"FROM score_rollups GROUP BY {key}"
    )
    op.create_index("ix_score_rollups_conversation_id", "score_rollups", ["conversation_id"])
    _pending("score_rollups", "conversation_id")
    _pending("score_totals", "version_id")
    for trigger in _triggers(d):
        for statement in _create(d, trigger):
            op.execute(statement)


def downgrade() -> None:
    d = Dialect(op.get_bind().dialect.name == "postgresql")
    for trigger in _triggers(d):
        op.execute(
            f"DROP TRIGGER {trigger.name}" + (f" ON {trigger.table}" if d.postgresql else "")
        )
        if d.postgresql:
            op.execute(f"DROP FUNCTION threadline_{trigger.name}()")
    op.drop_table("score_totals")
    op.drop_table("score_rollups")
