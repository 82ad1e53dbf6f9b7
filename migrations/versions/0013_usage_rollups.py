"""usage roll-ups (issue 16): sums per conversation and hour and per day, and a latency
sketch per day, appended by triggers on spans, traces, span links and messages

Revision ID: 0013
Revises: 0012
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of resolvers.analytics.sketch and models.rollups: stored rows depend on them.
GAMMA = (1 + 0.02) / (1 - 0.02)
ZERO_BUCKET = -(2**15)
ALL, VERSION, LINKED = 0, 1, 2

SPAN_COLUMNS = (
    "started_at",
    "kind",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "status",
    "duration_ms",
)
MESSAGE_COLUMNS = (
    "span_id",
    "created_at",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "status",
    "latency_ms",
)
ROLLUP_COLUMNS = (
    "conversation_id, hour, kind, model, provider, user_id, scope, version_id, "
    "calls, input_tokens, output_tokens, total_tokens, cost, errors, compacted"
)
BUCKET_COLUMNS = "day, kind, model, provider, scope, version_id, bucket, calls, compacted"
DAY_COLUMNS = (
    "day, kind, model, provider, scope, version_id, "
    "calls, input_tokens, output_tokens, total_tokens, cost, errors, compacted"
)
LINKS = "span_component_versions"


@dataclass(frozen=True)
class Dialect:
    name: str

    @property
    def postgresql(self) -> bool:
        return self.name == "postgresql"

    def truncate(self, unit: str, ts: str) -> str:
        if self.postgresql:
            return f"date_trunc('{unit}', {ts}, 'UTC')"
        pattern = "%Y-%m-%d %H:00:00.000000" if unit == "hour" else "%Y-%m-%d 00:00:00.000000"
        return f"strftime('{pattern}', {ts})"

    def bucket(self, latency: str) -> str:
        return (
            f"CASE WHEN {latency} <= 0 THEN {ZERO_BUCKET} "
            f"ELSE CAST(ceil(ln({latency}) / {math.log(GAMMA)!r}) AS INTEGER) END"
        )

    @property
    def no_version(self) -> str:
        # Typed: grouped by, an untyped NULL would be text on PostgreSQL.
        return "CAST(NULL AS uuid)" if self.postgresql else "NULL"

    @property
    def false(self) -> str:
        return "false" if self.postgresql else "0"

    def changed(self, columns: Sequence[str]) -> str:
        if self.postgresql:
            old = ", ".join(f"OLD.{c}" for c in columns)
            new = ", ".join(f"NEW.{c}" for c in columns)
            return f"(({old}) IS DISTINCT FROM ({new}))"
        return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


@dataclass(frozen=True)
class Calls:
    """Rows to count, in SQL: `s` names the span's (or message's) columns; `conversation`
    and `user` are its keys; `source` is a FROM list (empty for the one row of NEW or
    OLD) and `where` its condition."""

    s: str
    conversation: str
    user: str
    source: str
    where: str
    message: bool = False

    def inserts(
        self, d: Dialect, scope: int, version: str, k: int, join: str = "", extra: str = ""
    ) -> list[str]:
        """The roll-up and latency-bucket rows of k times the rows' contribution to a scope."""
        s = self.s
        kind, time, latency = (
            ("'LLM'", "created_at", "latency_ms")
            if self.message
            else (f"{s}.kind", "started_at", "duration_ms")
        )
        hour, day = d.truncate("hour", f"{s}.{time}"), d.truncate("day", f"{s}.{time}")
        source = f" FROM {self.source}{join}" if self.source else ""
        where = f" WHERE {self.where}{extra}"
        sums = (
            f"sum({k}), sum({k} * {s}.input_tokens), sum({k} * {s}.output_tokens), "
            f"sum({k} * {s}.total_tokens), sum({k} * {s}.cost), "
            f"sum(CASE WHEN {s}.status = 'ERROR' THEN {k} ELSE 0 END), {d.false}"
        )
        dims = f"{kind}, {s}.model, {s}.provider"
        # Summed per key: a statement-level trigger counts a whole batch in a few rows.
        return [
            f"INSERT INTO usage_rollups ({ROLLUP_COLUMNS}) SELECT {self.conversation}, {hour}, "
            f"{dims}, {self.user}, {scope}, {version}, {sums}{source}{where} "
            "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8",
            f"INSERT INTO usage_days ({DAY_COLUMNS}) SELECT {day}, {dims}, {scope}, {version}, "
            f"{sums}{source}{where} GROUP BY 1, 2, 3, 4, 5, 6",
            f"INSERT INTO latency_buckets ({BUCKET_COLUMNS}) SELECT {day}, {dims}, {scope}, "
            f"{version}, {d.bucket(f'{s}.{latency}')}, sum({k}), {d.false}{source}{where} "
            f"AND {s}.{latency} IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7",
        ]

    def spans(self, d: Dialect, sign: int) -> list[str]:
        """Every scope's rows of the spans: once, once per version, and negated if linked."""
        linked = f" AND EXISTS (SELECT 1 FROM {LINKS} l WHERE l.span_id = {self.s}.id)"
        per_version = f" JOIN {LINKS} l ON l.span_id = {self.s}.id"
        return [
            *self.inserts(d, ALL, d.no_version, sign),
            *self.inserts(d, VERSION, "l.component_version_id", sign, join=per_version),
            *self.inserts(d, LINKED, d.no_version, -sign, extra=linked),
        ]

    def messages(self, d: Dialect, sign: int) -> list[str]:
        """A message counts while it carries usage and no span produced it."""
        s = self.s
        counted = (
            f" AND {s}.span_id IS NULL AND ({s}.total_tokens != 0 OR {s}.input_tokens != 0 "
            f"OR {s}.cost != 0)"
        )
        return self.inserts(d, ALL, d.no_version, sign, extra=counted)


# A span's keys taken from its trace, joined as `t`.
TRACE_KEYS = ("t.conversation_id", "t.user_id")


def _with_traces(spans: str = "spans") -> str:
    return f"{spans} s JOIN traces t ON t.id = s.trace_id"


def _span_row(record: str) -> Calls:
    return Calls(record, *TRACE_KEYS, "traces t", f"t.id = {record}.trace_id")


def _trace_spans(record: str) -> Calls:
    return Calls(
        "s",
        f"{record}.conversation_id",
        f"{record}.user_id",
        "spans s",
        f"s.trace_id = {record}.id",
    )


def _linked_span(record: str) -> Calls:
    return Calls("s", *TRACE_KEYS, _with_traces(), f"s.id = {record}.span_id")


def _message_row(record: str) -> Calls:
    return Calls(record, f"{record}.conversation_id", "NULL", "", "1 = 1", message=True)


def _link_moves(d: Dialect, record: str, sign: int) -> list[str]:
    """A link added (sign 1) or removed (-1): the span counts under its version, and is
    linked exactly while it has a link (a span deleted with its links counted itself out)."""
    calls = _linked_span(record)
    others = f"{LINKS} l WHERE l.span_id = {record}.span_id"
    if sign > 0:
        others += f" AND l.component_version_id != {record}.component_version_id"
    return [
        *calls.inserts(d, VERSION, f"{record}.component_version_id", sign),
        *calls.inserts(
            d, LINKED, d.no_version, -sign, extra=f" AND NOT EXISTS (SELECT 1 FROM {others})"
        ),
    ]


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    timing: str  # e.g. "AFTER INSERT", "BEFORE DELETE", "AFTER UPDATE OF a, b"
    statements: list[str]
    when: str = ""
    # A PostgreSQL statement-level trigger's transition table of new rows.
    new_table: str = ""


def _triggers(d: Dialect) -> list[Trigger]:
    span_changed = d.changed(SPAN_COLUMNS)
    message_changed = d.changed(MESSAGE_COLUMNS)
    trace_changed = d.changed(("conversation_id", "user_id"))
    # PostgreSQL counts an ingested batch (one COPY) of spans at once.
    inserted = (
        Trigger(
            "rollup_span_insert",
            "spans",
            "AFTER INSERT",
            Calls("s", *TRACE_KEYS, _with_traces("new_spans"), "1 = 1").spans(d, 1),
            new_table="new_spans",
        )
        if d.postgresql
        else Trigger("rollup_span_insert", "spans", "AFTER INSERT", _span_row("NEW").spans(d, 1))
    )
    return [
        inserted,
        Trigger(
            "rollup_span_update",
            "spans",
            f"AFTER UPDATE OF {', '.join(SPAN_COLUMNS)}",
            _span_row("OLD").spans(d, -1) + _span_row("NEW").spans(d, 1),
            span_changed,
        ),
        # Before: the span's links still exist; when its trace is being deleted the trace
        # has counted it out already, and the join to it finds nothing.
        Trigger("rollup_span_delete", "spans", "BEFORE DELETE", _span_row("OLD").spans(d, -1)),
        Trigger(
            "rollup_trace_update",
            "traces",
            "AFTER UPDATE OF conversation_id, user_id",
            _trace_spans("OLD").spans(d, -1) + _trace_spans("NEW").spans(d, 1),
            trace_changed,
        ),
        Trigger("rollup_trace_delete", "traces", "BEFORE DELETE", _trace_spans("OLD").spans(d, -1)),
        Trigger("rollup_link_insert", LINKS, "AFTER INSERT", _link_moves(d, "NEW", 1)),
        Trigger("rollup_link_delete", LINKS, "AFTER DELETE", _link_moves(d, "OLD", -1)),
        Trigger(
            "rollup_message_insert", "messages", "AFTER INSERT", _message_row("NEW").messages(d, 1)
        ),
        Trigger(
            "rollup_message_update",
            "messages",
            f"AFTER UPDATE OF {', '.join(MESSAGE_COLUMNS)}",
            _message_row("OLD").messages(d, -1) + _message_row("NEW").messages(d, 1),
            message_changed,
        ),
        Trigger(
            "rollup_message_delete",
            "messages",
            "AFTER DELETE",
            _message_row("OLD").messages(d, -1),
        ),
    ]


def _create(d: Dialect, trigger: Trigger) -> list[str]:
    body = ";\n".join(trigger.statements)
    when = f" WHEN {trigger.when}" if trigger.when else ""
    if not d.postgresql:
        return [
            f"CREATE TRIGGER {trigger.name} {trigger.timing} ON {trigger.table} "
            f"FOR EACH ROW{when} BEGIN {body}; END"
        ]
    returned = "OLD" if trigger.timing.startswith("BEFORE") else "NULL"
    each = f"ROW{when}"
    if trigger.new_table:
        each = "STATEMENT"
    referencing = f"REFERENCING NEW TABLE AS {trigger.new_table} " if trigger.new_table else ""
    return [
        f"CREATE FUNCTION threadline_{trigger.name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body}; RETURN {returned}; END $$",
        f"CREATE TRIGGER {trigger.name} {trigger.timing} ON {trigger.table} {referencing}"
        f"FOR EACH {each} EXECUTE FUNCTION threadline_{trigger.name}()",
    ]


def _backfill(d: Dialect) -> list[str]:
    spans = Calls("s", *TRACE_KEYS, _with_traces(), "1 = 1")
    messages = Calls("m", "m.conversation_id", "NULL", "messages m", "1 = 1", message=True)
    return spans.spans(d, 1) + messages.messages(d, 1)


def _keys() -> list[sa.Column[object]]:
    return [
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    ]


def _sums() -> list[sa.Column[object]]:
    names = ("calls", "input_tokens", "output_tokens", "total_tokens", "cost", "errors")
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def _rollup_table(
    name: str,
    period: str,
    *columns: sa.Column[object],
    indexes: dict[str, list[str]] | None = None,
) -> None:
    """A roll-up table: id, period, dimensions, its own columns, and `compacted`; indexed
    on the period, on `indexes`, and on the periods still to compact."""
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(period, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        *_keys(),
        sa.Column("scope", sa.SmallInteger(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=True),
        *columns,
        sa.Column("compacted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    op.create_index(f"ix_{name}_{period}", name, [period])
    for suffix, indexed in (indexes or {}).items():
        op.create_index(f"ix_{name}_{suffix}", name, indexed)
    pending = sa.text("NOT compacted")
    op.create_index(
        f"ix_{name}_pending", name, [period], postgresql_where=pending, sqlite_where=pending
    )


def upgrade() -> None:
    _rollup_table(
        "usage_rollups",
        "hour",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        *_sums(),
        indexes={"conversation_hour": ["conversation_id", "hour"], "version": ["version_id"]},
    )
    _rollup_table("usage_days", "day", *_sums())
    _rollup_table(
        "latency_buckets",
        "day",
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        indexes={"version": ["version_id"]},
    )
    d = Dialect(op.get_bind().dialect.name)
    for statement in _backfill(d):
        op.execute(statement)
    for trigger in _triggers(d):
        for statement in _create(d, trigger):
            op.execute(statement)


def downgrade() -> None:
    d = Dialect(op.get_bind().dialect.name)
    for trigger in _triggers(d):
        op.execute(
            f"DROP TRIGGER {trigger.name}" + (f" ON {trigger.table}" if d.postgresql else "")
        )
        if d.postgresql:
            op.execute(f"DROP FUNCTION threadline_{trigger.name}()")
    op.drop_table("latency_buckets")
    op.drop_table("usage_days")
    op.drop_table("usage_rollups")
