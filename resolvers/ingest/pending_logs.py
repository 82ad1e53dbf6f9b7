"""Log records that arrived before their span: held in otlp_log_records, taken by the span.

Whichever of a span and its records arrives first, the other finds it: the span's batch
takes the records held for it (resolvers.ingest.spans), a records' export applies
them to a span stored already (resolvers.ingest.logs). Both writers first lock their
traces, so neither misses what the other is committing; SQLite runs one writer at a
time already. Records whose span never arrives are swept after HELD_FOR
(resolvers.retention).
"""

from __future__ import annotations

import logging
import uuid
import zlib
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, delete, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import PendingLogRecord
from models.base import utcnow
from resolvers.errors import BadInput
from resolvers.ingest import log_records
from resolvers.ingest.batch import TraceBatch
from resolvers.ingest.rows import dialect_of, write_rows
from resolvers.json_limits import JsonLimits

log = logging.getLogger(__name__)
HELD_FOR = timedelta(days=1)
# Advisory locks, PostgreSQL's: (LOCK_CLASS, bucket of a trace). Buckets bound the locks a
# batch of many traces takes (each is an entry of the server's shared lock table). Span
# batches take them shared, so that they never wait for each other; a logs batch takes
# them exclusive, and waits only for span batches of traces in its buckets (and they
# for it): the race to settle is between a span and its own records.
LOCK_CLASS = 0x4F544C50  # "OTLP"
LOCK_BUCKETS = 256


async def lock_traces(
    session: AsyncSession, trace_ids: Iterable[uuid.UUID], *, exclusive: bool
) -> None:
    """Lock the traces until commit, in one order for every writer (no deadlock)."""
    if dialect_of(session) != "postgresql":
        return
    buckets = sorted({zlib.crc32(t.bytes) % LOCK_BUCKETS for t in trace_ids})
    listed = func.unnest(bindparam("buckets", buckets, type_=ARRAY(Integer)))
    bucket = listed.column_valued("bucket")
    lock = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
    await session.exec(select(lock(LOCK_CLASS, bucket)).order_by(bucket))


async def hold(
    session: AsyncSession,
    owner_id: str,
    records: dict[tuple[uuid.UUID, uuid.UUID], list[dict[str, Any]]],
) -> None:
    """Keep the records (by trace and span row id) until their span arrives: one row
    per span."""
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "trace_id": trace_id,
            "span_id": span_id,
            "owner_id": owner_id,
            "records": kept,
            "received_at": now,
        }
        for (trace_id, span_id), kept in records.items()
    ]
    await write_rows(session, PendingLogRecord, rows)


async def take(
    session: AsyncSession, owner_id: str, batches: list[TraceBatch], limits: JsonLimits
) -> None:
    """Give the batch's spans the records held for them (deleting them from the table),
    and each span the messages of its records."""
    spans = {m.id: m for b in batches for m in b.spans}
    taken = await session.exec(
        delete(PendingLogRecord)
        .where(
            col(PendingLogRecord.span_id).in_(spans),
            col(PendingLogRecord.owner_id) == owner_id,
        )
        .returning(
            col(PendingLogRecord.span_id),
            col(PendingLogRecord.received_at),
            col(PendingLogRecord.records),
        )
    )
    for span_id, _, records in sorted(taken.all(), key=lambda row: row[1]):
        m = spans[span_id]
        attributes = log_records.with_records(m.span.attributes, records)
        if attributes is None:
            continue
        try:
            # As the span stores them (resolvers.ingest.traces).
            limits.check(f"span {m.span.span_id}.attributes", {**m.span.resource, **attributes})
        except BadInput as exc:
            # The span was accepted: it is stored, only without what does not fit.
            log.warning("log records of span %s dropped: %s", m.span.span_id, exc.message)
            continue
        m.span.attributes = attributes
    for m in spans.values():
        log_records.show(m, limits)
