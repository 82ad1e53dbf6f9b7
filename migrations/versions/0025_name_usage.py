"""usage per name (issue 22): spans.tool_name, traces.agent_id, and per UTC day the sums
(name_usage_days) and latency buckets (name_latency_days, and per month
name_latency_months, fed by compaction) of calls per kind, status, span name, tool and
agent, appended by triggers on spans, traces and messages (as 0020's per-user ones), so
that `usage` by those groupings for a caller who sees everything reads no spans

Revision ID: 0025
Revises: 0024
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT = sqlmodel.sql.sqltypes.AutoString
# Frozen copies of resolvers.analytics.sketch, resolvers.analytics.usage_query
# .MESSAGE_STATUS and resolvers.validation.MAX_IDENTIFIER_LENGTH: stored rows depend on them.
GAMMA = (1 + 0.02) / (1 - 0.02)
ZERO_BUCKET = -(2**15)
MESSAGE_STATUS = (
    "CASE {s}.status WHEN 'COMPLETE' THEN 'OK' WHEN 'ERROR' THEN 'ERROR' ELSE 'UNSET' END"
)
MAX_IDENTIFIER_LENGTH = 255
# Where an ingested TOOL span names its tool (resolvers.ingest.mapping.tool_run).
TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool.name", "tool_call.function.name")

# The span, trace and message columns a call's day, keys, sums and latency come from.
SPAN_COLUMNS = (
    "trace_id",
    "started_at",
    "kind",
    "status",
    "name",
    "tool_name",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "duration_ms",
)
MESSAGE_COLUMNS = (
    "span_id",
    "created_at",
    "sender_id",
    "sender_type",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "status",
    "latency_ms",
)
KEYS = "kind, status, name, tool_name, agent_id"
SUM_COLUMNS = f"day, {KEYS}, calls, input_tokens, output_tokens, total_tokens, cost, errors"
BUCKET_COLUMNS = f"day, {KEYS}, bucket, calls"


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

    def attribute(self, attributes: str, key: str) -> str:
        """A JSON attribute's value as text (null if absent)."""
        if self.postgresql:
            return f"({attributes} ->> '{key}')"
        return f"CAST(json_extract({attributes}, '$.\"{key}\"') AS TEXT)"


@dataclass(frozen=True)
class Calls:
    """Rows to count, in SQL: `s` names the span's (or message's) columns, `agent` its
    agent; `source` is a FROM list (empty for the one row of NEW or OLD) and `where` its
    condition."""

    s: str
    agent: str
    source: str
    where: str
    message: bool = False

    def keys(self) -> str:
        """What the calls were and who ran them, in KEYS' order: a model-call message is
        an LLM call with its status mapped, no name or tool, its sender if an agent."""
        s = self.s
        if self.message:
            status = MESSAGE_STATUS.format(s=s)
            return f"'LLM', {status}, NULL, NULL, {self.agent}"
        return f"{s}.kind, {s}.status, {s}.name, {s}.tool_name, {self.agent}"

    def inserts(self, d: Dialect, k: int, compacted: bool = False) -> list[str]:
        """The sums and latency-bucket rows of k times the rows' contribution, summed
        per key: a statement-level trigger counts a whole batch in a few rows. With
        `compacted`, as compaction leaves rows: merged, and in key order."""
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
        order = " ORDER BY 1, 2, 3, 4, 5, 6" if compacted else ""
        return [
            f"INSERT INTO name_usage_days ({SUM_COLUMNS}, compacted) SELECT {day}, "
            f"{self.keys()}, {sums}, {done}{source}{where} GROUP BY 1, 2, 3, 4, 5, 6{order}",
            f"INSERT INTO name_latency_days ({BUCKET_COLUMNS}, compacted) SELECT {day}, "
            f"{self.keys()}, {d.bucket(f'{s}.{latency}')}, sum({k}), {done}{source}{where} "
            f"AND {s}.{latency} IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7{order}",
        ]


def _span_row(record: str) -> Calls:
    return Calls(record, "t.agent_id", "traces t", f"t.id = {record}.trace_id")


def _trace_spans(record: str) -> Calls:
    return Calls("s", f"{record}.agent_id", "spans s", f"s.trace_id = {record}.id")


def _sender(record: str) -> str:
    return f"CASE WHEN {record}.sender_type = 'AGENT' THEN {record}.sender_id END"


def _message_row(record: str) -> Calls:
    return Calls(record, _sender(record), "", "1 = 1", message=True)


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
    name = "name_usage_span_insert"
    if not d.postgresql:
        return Trigger(name, "spans", "AFTER INSERT", _span_row("NEW").inserts(d, 1))
    batch = Calls("s", "t.agent_id", "new_spans s JOIN traces t ON t.id = s.trace_id", "1 = 1")
    return Trigger(name, "spans", "AFTER INSERT", batch.inserts(d, 1), new_table="new_spans")


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
            "name_usage_span_update", "spans", SPAN_COLUMNS, _span_row("OLD"), _span_row("NEW")
        ),
        # Before: when its trace is being deleted the trace has counted it out already,
        # and the join to it finds nothing (as 0020's).
        Trigger(
            "name_usage_span_delete", "spans", "BEFORE DELETE", _span_row("OLD").inserts(d, -1)
        ),
        updated(
            "name_usage_trace_update",
            "traces",
            ("agent_id",),
            _trace_spans("OLD"),
            _trace_spans("NEW"),
        ),
        Trigger(
            "name_usage_trace_delete", "traces", "BEFORE DELETE", _trace_spans("OLD").inserts(d, -1)
        ),
        Trigger(
            "name_usage_message_insert",
            "messages",
            "AFTER INSERT",
            _message_row("NEW").inserts(d, 1),
        ),
        updated(
            "name_usage_message_update",
            "messages",
            MESSAGE_COLUMNS,
            _message_row("OLD"),
            _message_row("NEW"),
        ),
        Trigger(
            "name_usage_message_delete",
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


def _named_columns(d: Dialect) -> list[str]:
    """Each trace's agent: the sender of its message, if an agent sent it. Each TOOL
    span's tool: its tool call's, else the one its attributes name (as ingestion reads
    them), else its name."""
    values = [d.attribute("spans.attributes", key) for key in TOOL_NAME_KEYS]
    named = [
        f"CASE WHEN trim({v}) != '' THEN substr({v}, 1, {MAX_IDENTIFIER_LENGTH}) END"
        for v in values
    ]
    called = "SELECT min(c.tool_name) FROM tool_calls c WHERE c.span_id = spans.id"
    return [
        "UPDATE traces SET agent_id = (SELECT m.sender_id FROM messages m "
        "WHERE m.id = traces.message_id AND m.sender_type = 'AGENT') "
        "WHERE message_id IS NOT NULL",
        f"UPDATE spans SET tool_name = coalesce(({called}), {', '.join(named)}, name) "
        "WHERE kind = 'TOOL'",
    ]


def _backfill(d: Dialect) -> list[str]:
    """The calls there are, as merged rows (compacted), and their days' buckets already
    in their months: what compaction would have left (as 0020's)."""
    spans = Calls("s", "t.agent_id", "spans s JOIN traces t ON t.id = s.trace_id", "1 = 1")
    messages = Calls("m", _sender("m"), "messages m", "1 = 1", message=True)
    months = (
        f"INSERT INTO name_latency_months (month, {KEYS}, bucket, calls, compacted) "
        f"SELECT {d.month('day')}, {KEYS}, bucket, sum(calls), {d.boolean(True)} "
        "FROM name_latency_days GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(calls) != 0 "
        "ORDER BY 1, 2, 3, 4, 5, 6, 7"
    )
    return [*spans.inserts(d, 1, compacted=True), *messages.inserts(d, 1, compacted=True), months]


def _table(name: str, period: str, *columns: sa.Column[object]) -> None:
    """A roll-up table: id, period, what the calls were and who ran them, its own
    columns and `compacted`; indexed on the period and on the periods still to compact."""
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("compacted", sa.Boolean(), nullable=False),
        sa.Column("kind", TEXT(), nullable=False),
        sa.Column("status", TEXT(), nullable=False),
        sa.Column("name", TEXT(), nullable=True),
        sa.Column("tool_name", TEXT(), nullable=True),
        sa.Column("agent_id", TEXT(), nullable=True),
        *columns,
        sa.Column(period, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
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
    op.add_column("spans", sa.Column("tool_name", TEXT(), nullable=True))
    op.add_column("traces", sa.Column("agent_id", TEXT(), nullable=True))
    _table("name_usage_days", "day", *_sums())
    _table("name_latency_days", "day", *_buckets())
    _table("name_latency_months", "month", *_buckets())
    d = Dialect(op.get_bind().dialect.name == "postgresql")
    for statement in [*_named_columns(d), *_backfill(d)]:
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
    op.drop_table("name_latency_months")
    op.drop_table("name_latency_days")
    op.drop_table("name_usage_days")
    op.drop_column("traces", "agent_id")
    op.drop_column("spans", "tool_name")
