"""What the lake holds, per table: partitions, rows and bytes, from Parquet footers only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.layout import Layout
from pipeline.reports import TABLES_BY_NAME


@dataclass(frozen=True)
class TableSummary:
    table: str
    partitions: int
    rows: int
    bytes: int
    licensors: tuple[str, ...]
    days: tuple[str, ...]


def summarize_lake(layout: Layout, tables: tuple[str, ...] = tuple(TABLES_BY_NAME)) -> list[TableSummary]:
    summaries = []
    for table in tables:
        files = sorted(layout.lake_table(table).glob("licensor=*/date=*/*.parquet"))
        summaries.append(
            TableSummary(
                table=table,
                partitions=len({f.parent for f in files}),
                rows=sum(pq.ParquetFile(f).metadata.num_rows for f in files),
                bytes=sum(f.stat().st_size for f in files),
                licensors=tuple(sorted({_hive_value(f.parent.parent) for f in files})),
                days=tuple(sorted({_hive_value(f.parent) for f in files})),
            )
        )
    return summaries


def _hive_value(path: Path) -> str:
    return path.name.split("=", 1)[1]


def format_summary(summaries: list[TableSummary]) -> str:
    width = max(len(s.table) for s in summaries)
    lines = [f"{'table':<{width}}  {'partitions':>10}  {'rows':>12}  {'MB':>8}"]
    for s in summaries:
        lines.append(f"{s.table:<{width}}  {s.partitions:>10,}  {s.rows:>12,}  {s.bytes / 1e6:>8.2f}")
    return "\n".join(lines)
