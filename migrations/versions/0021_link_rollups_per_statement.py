"""span-link roll-up triggers right for statements that write several links of a span
(PostgreSQL)

Migration 0013 counts a span as LINKED (using at least one component version) when its
first link arrives and as unlinked when its last goes, deciding "first" and "last" by
looking at the span's other links. PostgreSQL runs row-level AFTER triggers when the
whole statement has ended: when one statement inserted two links of a span, each
trigger saw the other and neither counted the span as linked (a set-based load of 1.5M
linked spans counted 0.75M); when one statement deleted them (a conversation deleted in
chunks), each saw none left and the span was counted unlinked twice. SQLite runs each
row's trigger before the next row, and needs nothing.

- Insert: one statement-level trigger over the inserted links (a transition table, so
  a link ON CONFLICT skipped is not counted): each counts under its version; a span
  whose links are all new becomes LINKED once.
- Delete: BEFORE each row, as 0019's score triggers do: the links the statement deleted
  before this one are gone, this one not yet, so the span becomes unlinked exactly when
  its last link goes. When the span itself is being deleted (the cascade), it counted
  itself out already and the join to it finds nothing, as before.

Revision ID: 0021
Revises: 0020
"""

import math
from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of 0013's (the sketch and the roll-up tables' columns).
GAMMA = (1 + 0.02) / (1 - 0.02)
ZERO_BUCKET = -(2**15)
VERSION, LINKED = 1, 2
LINKS = "span_component_versions"
ROLLUP_COLUMNS = (
    "conversation_id, hour, kind, model, provider, user_id, scope, version_id, "
    "calls, input_tokens, output_tokens, total_tokens, cost, errors, compacted"
)
DAY_COLUMNS = (
    "day, kind, model, provider, scope, version_id, "
    "calls, input_tokens, output_tokens, total_tokens, cost, errors, compacted"
)
BUCKET_COLUMNS = "day, kind, model, provider, scope, version_id, bucket, calls, compacted"
SPANS = "spans s JOIN traces t ON t.id = s.trace_id"
NEW_LINKS = "new_links n JOIN spans s ON s.id = n.span_id JOIN traces t ON t.id = s.trace_id"


def _inserts(scope: int, version: str, k: int, source: str, where: str) -> list[str]:
    """The roll-up, day and latency-bucket rows of k times each span of `source` (which
    joins `s`, a span, and `t`, its trace) that `where` selects, under `scope`."""
    hour = "date_trunc('hour', s.started_at, 'UTC')"
    day = "date_trunc('day', s.started_at, 'UTC')"
    sums = (
        f"sum({k}), sum({k} * s.input_tokens), sum({k} * s.output_tokens), "
        f"sum({k} * s.total_tokens), sum({k} * s.cost), "
        f"sum(CASE WHEN s.status = 'ERROR' THEN {k} ELSE 0 END), false"
    )
    bucket = (
        f"CASE WHEN s.duration_ms <= 0 THEN {ZERO_BUCKET} "
        f"ELSE CAST(ceil(ln(s.duration_ms) / {math.log(GAMMA)!r}) AS INTEGER) END"
    )
    dims = "s.kind, s.model, s.provider"
    return [
        f"INSERT INTO usage_rollups ({ROLLUP_COLUMNS}) SELECT t.conversation_id, {hour}, "
        f"{dims}, t.user_id, {scope}, {version}, {sums} FROM {source} WHERE {where} "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8",
        f"INSERT INTO usage_days ({DAY_COLUMNS}) SELECT {day}, {dims}, {scope}, {version}, "
        f"{sums} FROM {source} WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6",
        f"INSERT INTO latency_buckets ({BUCKET_COLUMNS}) SELECT {day}, {dims}, {scope}, "
        f"{version}, {bucket}, sum({k}), false FROM {source} WHERE {where} "
        "AND s.duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7",
    ]


def _inserted() -> list[str]:
    """Each new link under its version; each span all of whose links are new, LINKED."""
    only_new = (
        f"s.id IN (SELECT span_id FROM new_links) AND NOT EXISTS (SELECT 1 FROM {LINKS} l "
        "WHERE l.span_id = s.id AND NOT EXISTS (SELECT 1 FROM new_links n "
        "WHERE n.span_id = l.span_id AND n.component_version_id = l.component_version_id))"
    )
    return [
        *_inserts(VERSION, "n.component_version_id", 1, NEW_LINKS, "true"),
        *_inserts(LINKED, "CAST(NULL AS uuid)", -1, SPANS, only_new),
    ]


def _deleted() -> list[str]:
    """The link out of its version; the span unlinked if no other link of it is left."""
    others = (
        f"SELECT 1 FROM {LINKS} l WHERE l.span_id = OLD.span_id "
        "AND l.component_version_id != OLD.component_version_id"
    )
    return [
        *_inserts(VERSION, "OLD.component_version_id", -1, SPANS, "s.id = OLD.span_id"),
        *_inserts(
            LINKED, "CAST(NULL AS uuid)", 1, SPANS, f"s.id = OLD.span_id AND NOT EXISTS ({others})"
        ),
    ]


def _function(name: str, statements: list[str], returned: str) -> str:
    body = ";\n".join(statements)
    return (
        f"CREATE OR REPLACE FUNCTION threadline_{name}() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN {body}; RETURN {returned}; END $$"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER rollup_link_insert ON {LINKS}")
    op.execute(f"DROP TRIGGER rollup_link_delete ON {LINKS}")
    op.execute(_function("rollup_link_insert", _inserted(), "NULL"))
    op.execute(_function("rollup_link_delete", _deleted(), "OLD"))
    op.execute(
        f"CREATE TRIGGER rollup_link_insert AFTER INSERT ON {LINKS} REFERENCING NEW TABLE AS "
        "new_links FOR EACH STATEMENT EXECUTE FUNCTION threadline_rollup_link_insert()"
    )
    op.execute(
        f"CREATE TRIGGER rollup_link_delete BEFORE DELETE ON {LINKS} "
        "FOR EACH ROW EXECUTE FUNCTION threadline_rollup_link_delete()"
    )


def downgrade() -> None:
    """Back to 0013's row triggers, run after each row (their bodies as 0013 wrote them)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER rollup_link_insert ON {LINKS}")
    op.execute(f"DROP TRIGGER rollup_link_delete ON {LINKS}")
    new_only = (
        f"s.id = NEW.span_id AND NOT EXISTS (SELECT 1 FROM {LINKS} l WHERE l.span_id = "
        "NEW.span_id AND l.component_version_id != NEW.component_version_id)"
    )
    old_gone = (
        f"s.id = OLD.span_id AND NOT EXISTS (SELECT 1 FROM {LINKS} l WHERE l.span_id = OLD.span_id)"
    )
    inserted = [
        *_inserts(VERSION, "NEW.component_version_id", 1, SPANS, "s.id = NEW.span_id"),
        *_inserts(LINKED, "CAST(NULL AS uuid)", -1, SPANS, new_only),
    ]
    deleted = [
        *_inserts(VERSION, "OLD.component_version_id", -1, SPANS, "s.id = OLD.span_id"),
        *_inserts(LINKED, "CAST(NULL AS uuid)", 1, SPANS, old_gone),
    ]
    op.execute(_function("rollup_link_insert", inserted, "NULL"))
    op.execute(_function("rollup_link_delete", deleted, "NULL"))
    for name, event in (("rollup_link_insert", "INSERT"), ("rollup_link_delete", "DELETE")):
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {LINKS} "
            f"FOR EACH ROW EXECUTE FUNCTION threadline_{name}()"
        )
