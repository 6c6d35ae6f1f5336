"""What the lake holds, per table: partitions, rows and bytes, from the Iceberg manifests only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.config import tables_for
from pipeline.layout import Layout
from pipeline.reports import TABLES_BY_NAME

if TYPE_CHECKING:
    from pipeline.storage.tables import TableLake


@dataclass(frozen=True)
class TableSummary:
    table: str
    partitions: int
    rows: int
    bytes: int
    licensors: tuple[str, ...]
    days: tuple[str, ...]


def summarize_lake(
    layout: Layout, lake: TableLake | None = None, tables: tuple[str, ...] = tuple(TABLES_BY_NAME)
) -> list[TableSummary]:
    """Partitions, rows and bytes of each lake table at its current snapshot (from the manifests);
    `lake`: the tables to read, when not this process's own (another process's catalog)."""
    lake = lake or tables_for(layout.data_dir)
    existing = set(lake.table_names())
    summaries = []
    for table in tables:
        stats = lake.partition_stats(table) if table in existing else {}
        summaries.append(
            TableSummary(
                table=table,
                partitions=len(stats),
                rows=sum(rows for rows, _, _ in stats.values()),
                bytes=sum(size for _, size, _ in stats.values()),
                licensors=tuple(sorted({licensor for licensor, _ in stats})),
                days=tuple(sorted({f"{day:%Y-%m-%d}" for _, day in stats})),
            )
        )
    return summaries


def format_summary(summaries: list[TableSummary]) -> str:
    width = max(len(s.table) for s in summaries)
    lines = [f"{'table':<{width}}  {'partitions':>10}  {'rows':>12}  {'MB':>8}"]
    for s in summaries:
        lines.append(f"{s.table:<{width}}  {s.partitions:>10,}  {s.rows:>12,}  {s.bytes / 1e6:>8.2f}")
    return "\n".join(lines)
