"""Score roll-ups: what `scoreSummary(byComponentVersion: true)` adds up, kept by triggers.

A score counts once for each component version its target used (a span's links, a
trace's trace_versions, a message's or conversation's traces' versions). Every write
that changes those pairs (a score, a span link, a trace's versions, a trace's message or
conversation) appends signed delta rows here in its own transaction (migration 0019
holds the triggers), so no write can miss them and no two writers update one row. A
read sums every row of its key; compaction (resolvers.analytics.score_rollups) merges a
key's rows into one now and then without changing any sum.

Rows are keyed by the score's value too, so that the minimum and maximum of what is
left after a delete are exact: the smallest and largest values whose rows still add up
to more than nothing. Per conversation that adds next to no rows (a conversation has few
scores); score_totals holds a row per version and distinct value, a few hundred for
ratings, booleans and labels, but up to one per scored pair for a score whose values
are all different (a float similarity, say).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import BIG_INTEGER
from models.rollups import pending_index


class _Pairs(SQLModel):
    """A key of (score, version) pairs and how many pairs it gained or lost."""

    id: int | None = Field(default=None, sa_type=BIG_INTEGER, primary_key=True)
    version_id: uuid.UUID
    target: str = Field(max_length=32)
    source: str = Field(max_length=32)
    name: str
    label: str | None = None
    value: float | None = None
    scores: int = Field(default=0, sa_type=sa.BigInteger)
    compacted: bool = False


class ScoreRollup(_Pairs, table=True):
    """Per conversation: a caller who sees some conversations reads theirs alone."""

    __tablename__ = "score_rollups"
    __table_args__ = (
        sa.Index("ix_score_rollups_conversation_id", "conversation_id"),
        pending_index("score_rollups", "conversation_id"),
    )

    # No foreign key: a deleted conversation's rows are its negative deltas, then nothing.
    conversation_id: uuid.UUID


class ScoreTotal(_Pairs, table=True):
    """The same pairs over every conversation, per version: what a caller who sees
    everything reads (a trigger on score_rollups appends each delta here too)."""

    __tablename__ = "score_totals"
    __table_args__ = (pending_index("score_totals", "version_id"),)
