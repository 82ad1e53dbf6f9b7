"""What the scale benchmark prints: p50 per read, caller and size with the growth from
size to size, ingestion, build time, and where the bytes go (per million spans)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from bench.harness import print_table
from tests.databases import admin_connection

TABLES_SHOWN = 8
MB = 1_000_000


async def footprint(url: str) -> dict[str, Any]:
    """Rows, the database's bytes, and the largest tables' heap and index bytes."""
    connection = await admin_connection(url)
    try:
        counts = await connection.fetchrow(
            """SELECT pg_database_size(current_database()) AS database_bytes,
                      (SELECT count(*) FROM spans) AS spans,
                      (SELECT count(*) FROM messages) AS messages,
                      (SELECT count(*) FROM conversations) AS conversations"""
        )
        tables = await connection.fetch(
            """SELECT relname AS table, pg_table_size(oid) AS table_bytes,
                      pg_indexes_size(oid) AS index_bytes
            FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'
            ORDER BY pg_total_relation_size(oid) DESC LIMIT $1""",
            TABLES_SHOWN,
        )
    finally:
        await connection.close()
    return {**dict(counts), "tables": [dict(t) for t in tables]}


def per_million_spans(figures: dict[str, Any], size_bytes: int) -> str:
    return f"{size_bytes / MB / figures['spans'] * 1_000_000:.0f}"


def growth(values: Sequence[float | None]) -> list[str]:
    return [f"x{b / a:.1f}" if a and b else "-" for a, b in pairwise(values)]


def p50(figures: dict[str, Any], caller: str, read: str) -> float | None:
    value: float | None = figures["reads"][caller][read]["p50_ms"]
    return value


def cell(figures: dict[str, Any], caller: str, read: str) -> str:
    timing = figures["reads"][caller][read]
    return f"ERROR {timing['error']}" if timing["error"] else f"{timing['p50_ms']:.1f}"


def print_report(results: list[dict[str, Any]], callers: list[str]) -> None:
    sizes = [f["size"] for f in results]
    steps = [f"{a}->{b}" for a, b in pairwise(sizes)]
    print("\np50 ms of warm runs through /graphql (ERROR: the read's error code)")
    rows: list[list[object]] = []
    for read in results[0]["reads"][callers[0]]:
        for caller in callers:
            values = [p50(f, caller, read) for f in results]
            rows.append([read, caller, *(cell(f, caller, read) for f in results), *growth(values)])
    ingested = [f["ingest"]["spans_per_s"] for f in results]
    shown = [f"{v:.0f}" if v else "ERROR" for v in ingested]
    rows.append(["ingestion, spans/s", "OTLP", *shown, *growth(ingested)])
    built = [f["build_seconds"].get("total") for f in results]
    rows.append(["build, s", "", *(b or "-" for b in built), *growth(built)])
    rows.append(["spans", "", *(f["spans"] for f in results), *(["" for _ in steps])])
    print_table(["read", "caller", *sizes, *steps], rows)
    print("\nMB per million spans: the database, then each of the largest tables + its indexes")
    rows = [["database", *(per_million_spans(f, f["database_bytes"]) for f in results)]]
    for table in [t["table"] for t in results[-1]["tables"]]:
        row: list[object] = [table]
        for f in results:
            found = [t for t in f["tables"] if t["table"] == table]
            row.append(
                "-"
                if not found
                else f"{per_million_spans(f, found[0]['table_bytes'])} + "
                f"{per_million_spans(f, found[0]['index_bytes'])}"
            )
        rows.append(row)
    print_table(["", *sizes], rows)
