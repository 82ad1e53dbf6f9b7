"""per-user usage sums and latency sketch (issue 16): per UTC day and trace user, the
sums (user_usage_days) and the latency buckets (user_latency_days, and per month
user_latency_months, fed by compaction), appended by triggers on spans, traces and
messages, so that `usage` by user for a caller who sees everything reads no spans

Revision ID: 0020
Revises: 0019
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of resolvers.analytics.sketch and models.rollups: stored rows depend on them.
GAMMA = (1 + 0.02) / (1 - 0.02)
ZERO_BUCKET = -(2**15)

# The span and message columns a call's day, sums and latency come from.
SPAN_COLUMNS = (
    "started_at",
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
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "status",
    "latency_ms",
)
SUM_COLUMNS = "day, user_id, calls, input_tokens, output_tokens, total_tokens, cost, errors"
BUCKET_COLUMNS = "day, user_id, bucket, calls"


@dataclass(frozen=True)
class Dialect:
    postgresql: bool

    def day(self, ts: str) -> str:
        if self.postgresql:
            return f"date_trunc('day', {ts}, 'UTC')"
        return f"strftime('%Y-%m-%d 00:00:00.000000', {ts})"

    def month(self, ts: str) -> str:
        if self.postgresql:
            return f"date_trunc('month', {ts}, 'UTC')"
        return f"strftime('%Y-%m-01 00:00:00.000000', {ts})"

    def bucket(self, latency: str) -> str:
        return (
            f"CASE WHEN {latency} <= 0 THEN {ZERO_BUCKET} "
            f"ELSE CAST(ceil(ln({latency}) / {math.log(GAMMA)!r}) AS INTEGER) END"
        )

    def boolean(self, value: bool) -> str:
        if self.postgresql:
            return str(value).lower()
        return str(int(value))

    def changed(self, columns: Sequence[str]) -> str:
        if self.postgresql:
            old = ", ".join(f"OLD.{c}" for c in columns)
            new = ", ".join(f"NEW.{c}" for c in columns)
            return f"(({old}) IS DISTINCT FROM ({new}))"
        return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


@dataclass(frozen=True)
class Calls:
    """Rows to count, in SQL: `s` names the span's (or message's) columns, `user` its
    trace user; `source` is a FROM list (empty for the one row of NEW or OLD) and
    `where` its condition."""

    s: str
    user: str
    source: str
    where: str
    message: bool = False

    def inserts(self, d: Dialect, k: int, compacted: bool = False) -> list[str]:
        """The sums and latency-bucket rows of k times the rows' contribution, summed
        per key: a statement-level trigger counts a whole batch in a few rows. With
        `compacted`, as compaction leaves rows: merged, and in key order (a range of
        days reads few pages)."""
        s = self.s
        time, latency = (
            ("created_at", "latency_ms") if self.message else ("started_at", "duration_ms")
        )
        day = d.day(f"{s}.{time}")
        source = f" FROM {self.source}" if self.source else ""
        where = f" WHERE {self.where}"
        if self.message:
            where += (
                f" AND {s}.span_id IS NULL AND ({s}.total_tokens != 0 "
                f"OR {s}.input_tokens != 0 OR {s}.cost != 0)"
            )
        sums = (
            f"sum({k}), sum({k} * {s}.input_tokens), sum({k} * {s}.output_tokens), "
            f"sum({k} * {s}.total_tokens), sum({k} * {s}.cost), "
            f"sum(CASE WHEN {s}.status = 'ERROR' THEN {k} ELSE 0 END)"
        )
        done = d.boolean(compacted)
        order = " ORDER BY 1, 2" if compacted else ""
        return [
            f"INSERT INTO user_usage_days ({SUM_COLUMNS}, compacted) SELECT {day}, "
            f"{self.user}, {sums}, {done}{source}{where} GROUP BY 1, 2{order}",
            f"INSERT INTO user_latency_days ({BUCKET_COLUMNS}, compacted) SELECT {day}, "
            f"{self.user}, {d.bucket(f'{s}.{latency}')}, sum({k}), {done}{source}{where} "
            f"AND {s}.{latency} IS NOT NULL GROUP BY 1, 2, 3{order}",
        ]


def _span_row(record: str) -> Calls:
    return Calls(record, "t.user_id", "traces t", f"t.id = {record}.trace_id")


def _trace_spans(record: str) -> Calls:
    return Calls("s", f"{record}.user_id", "spans s", f"s.trace_id = {record}.id")


def _message_row(record: str) -> Calls:
    # Model-call messages have no trace, so no user: they count under null.
    return Calls(record, "NULL", "", "1 = 1", message=True)


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    timing: str  # e.g. "AFTER INSERT", "BEFORE DELETE", "AFTER UPDATE OF a, b"
    statements: list[str]
    when: str = ""
    # A PostgreSQL statement-level trigger's transition table of new rows.
    new_table: str = ""


def _span_insert(d: Dialect) -> Trigger:
    """PostgreSQL counts an inserted batch (one COPY) of spans at once."""
    if not d.postgresql:
        return Trigger(
            "user_usage_span_insert", "spans", "AFTER INSERT", _span_row("NEW").inserts(d, 1)
        )
    batch = Calls("s", "t.user_id", "new_spans s JOIN traces t ON t.id = s.trace_id", "1 = 1")
    return Trigger(
        "user_usage_span_insert",
        "spans",
        "AFTER INSERT",
        batch.inserts(d, 1),
        new_table="new_spans",
    )


def _triggers(d: Dialect) -> list[Trigger]:
    def updated(name: str, table: str, columns: Sequence[str], of: Calls, to: Calls) -> Trigger:
        """A row's old contribution counted out and its new one in, when `columns` change."""
        return Trigger(
            name,
            table,
            f"AFTER UPDATE OF {', '.join(columns)}",
            of.inserts(d, -1) + to.inserts(d, 1),
            d.changed(columns),
        )

    return [
        _span_insert(d),
        updated(
            "user_usage_span_update", "spans", SPAN_COLUMNS, _span_row("OLD"), _span_row("NEW")
        ),
        # Before: when its trace is being deleted the trace has counted it out already,
        # and the join to it finds nothing.
        Trigger(
            "user_usage_span_delete", "spans", "BEFORE DELETE", _span_row("OLD").inserts(d, -1)
        ),
        updated(
            "user_usage_trace_update",
            "traces",
            ("user_id",),
            _trace_spans("OLD"),
            _trace_spans("NEW"),
        ),
        Trigger(
            "user_usage_trace_delete", "traces", "BEFORE DELETE", _trace_spans("OLD").inserts(d, -1)
        ),
        Trigger(
            "user_usage_message_insert",
            "messages",
            "AFTER INSERT",
            _message_row("NEW").inserts(d, 1),
        ),
        updated(
            "user_usage_message_update",
            "messages",
            MESSAGE_COLUMNS,
            _message_row("OLD"),
            _message_row("NEW"),
        ),
        Trigger(
            "user_usage_message_delete",
            "messages",
            "AFTER DELETE",
            _message_row("OLD").inserts(d, -1),
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
    returned = "OLD" if trigger.timing.startswith("BEFORE") else "NULL"
    each, referencing = f"ROW{when}", ""
    if trigger.new_table:
        each, referencing = "STATEMENT", f"REFERENCING NEW TABLE AS {trigger.new_table} "
    return [
        f"CREATE FUNCTION threadline_{trigger.name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body}; RETURN {returned}; END $$",
        f"CREATE TRIGGER {trigger.name} {trigger.timing} ON {trigger.table} {referencing}"
        f"FOR EACH {each} EXECUTE FUNCTION threadline_{trigger.name}()",
    ]


def _backfill(d: Dialect) -> list[str]:
    """The calls there are, as merged rows (compacted), and their days' buckets already
    in their months: what compaction would have left."""
    spans = Calls("s", "t.user_id", "spans s JOIN traces t ON t.id = s.trace_id", "1 = 1")
    messages = Calls("m", "NULL", "messages m", "1 = 1", message=True)
    months = (
        "INSERT INTO user_latency_months (month, user_id, bucket, calls, compacted) "
        f"SELECT {d.month('day')}, user_id, bucket, sum(calls), {d.boolean(True)} "
        "FROM user_latency_days GROUP BY 1, 2, 3 HAVING sum(calls) != 0 ORDER BY 1, 2, 3"
    )
    return [*spans.inserts(d, 1, compacted=True), *messages.inserts(d, 1, compacted=True), months]


def _table(name: str, period: str, *columns: sa.Column[object]) -> None:
    """A roll-up table: id, period, trace user, its own columns and `compacted`; indexed
    on the period and on the periods still to compact."""
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("compacted", sa.Boolean(), nullable=False),
        *columns,
        sa.Column(period, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    op.create_index(f"ix_{name}_{period}", name, [period])
    pending = sa.text("NOT compacted")
    op.create_index(
        f"ix_{name}_pending", name, [period], postgresql_where=pending, sqlite_where=pending
    )


def _buckets() -> list[sa.Column[object]]:
    return [
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
    ]


def _sums() -> list[sa.Column[object]]:
    names = ("calls", "input_tokens", "output_tokens", "total_tokens", "cost", "errors")
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def upgrade() -> None:
    _table("user_usage_days", "day", *_sums())
    _table("user_latency_days", "day", *_buckets())
    # One user's days, not all of them (`usage(userId:)`).
    op.create_index("ix_user_latency_days_user_day", "user_latency_days", ["user_id", "day"])
    _table("user_latency_months", "month", *_buckets())
    d = Dialect(op.get_bind().dialect.name == "postgresql")
    for statement in _backfill(d):
        op.execute(statement)
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
    op.drop_table("user_latency_months")
    op.drop_table("user_latency_days")
    op.drop_table("user_usage_days")
