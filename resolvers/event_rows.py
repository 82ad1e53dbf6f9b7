"""What a row of the event log holds: one event, or the starts and ends of ingested spans.

An ingested span arrives ended. The spans of one trace in one ingestion batch share a
row: a SPAN_ENDED (the kind of its last event) listing their ids under SPANS in the
order they started, which takes two sequence numbers per span (its seq is the last)
and stands for each span's SPAN_STARTED and SPAN_ENDED in turn. Readers get the events
as if each had a row (events_of): the log keeps one row and two index entries per
batch and trace, not two per span. A query finds such a row by its kind or trace_id,
not by span_id (NULL).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import inspect

from models import Event
from models.enums import EventKind

SPANS = "spans"
# The largest sequence number (events.seq is a 32-bit INTEGER).
MAX_SEQ = 2**31 - 1
# At most this many spans in a row; a larger batch takes several. Each page of the log
# (event_log.PAGE events) reads whole every row holding one of its events: a trace of
# 100,000 spans in one row would be 4 MB read for every 200 events. At ~40 bytes of ids
# per span, 1,000 keep that read small beside the spans a page loads, and rows few:
# ~200 bytes of row and index entries per 1,000 spans.
SPANS_PER_ROW = 1000
# One span's row written before rows listed their spans (data {"startedToo": true},
# the span in span_id): read as a row listing that span.
STARTED_TOO = "startedToo"
ROW_KIND = EventKind.SPAN_ENDED
TURN = (EventKind.SPAN_STARTED, EventKind.SPAN_ENDED)  # a listed span's events, in order
MAX_NUMBERS = len(TURN) * SPANS_PER_ROW  # the most sequence numbers one row takes


def listings(span_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """The data of the rows of these spans (of one trace, in the order they started)."""
    return [
        {SPANS: [str(span_id) for span_id in span_ids[start : start + SPANS_PER_ROW]]}
        for start in range(0, len(span_ids), SPANS_PER_ROW)
    ]


def numbers_of(data: dict[str, Any]) -> int:
    """How many events a row with this data holds: how many sequence numbers it takes."""
    if SPANS in data:
        return len(TURN) * len(data[SPANS])
    return len(TURN) if data.get(STARTED_TOO) else 1


def events_of(row: Event, after: int = 0, up_to: int | None = None) -> Iterator[Event]:
    """The events a row holds numbered after `after` (and up to `up_to`), in order: the
    row itself, or each listed span's SPAN_STARTED and SPAN_ENDED with their own seq."""
    last = row.seq if up_to is None else min(row.seq, up_to)
    listed = _listed(row)
    if listed is None:
        if after < row.seq <= last:
            yield row
        return
    first = row.seq - len(TURN) * len(listed) + 1
    values = {column.key: getattr(row, column.key) for column in inspect(Event).column_attrs}
    for seq in range(max(first, after + 1), last + 1):
        span, turn = divmod(seq - first, len(TURN))
        span_id = listed[span]
        yield Event(
            **{
                **values,
                "seq": seq,
                "kind": TURN[turn],
                "span_id": None if span_id is None else uuid.UUID(span_id),
                "data": {},
            }
        )


def _listed(row: Event) -> Sequence[str | None] | None:
    """The ids of the spans a row lists, in order; None for a row of one event."""
    if row.kind == ROW_KIND and SPANS in row.data:
        ids: list[str] = row.data[SPANS]
        # Deleting the trace nulls the row's trace_id, as it nulled each span event's
        # span_id: the events stay, without a span, even if the same spans come again.
        return ids if row.trace_id is not None else [None] * len(ids)
    if row.data.get(STARTED_TOO):
        return [None if row.span_id is None else str(row.span_id)]
    return None
