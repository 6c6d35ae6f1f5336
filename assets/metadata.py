"""Materialization metadata for lake partitions: row count, schema, file, size and a preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.ingest.landing.personal import shown_columns
from pipeline.reports import TableSpec

PREVIEW_ROWS = 5
PREVIEW_COLUMNS = 8


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in schema])


def markdown_preview(path: Path, spec: TableSpec | None = None) -> str:
    """The first rows of a Parquet file as a small markdown table (lineage columns left out, and
    the personal columns of a personal table: the preview is kept in Dagster's event storage)."""
    parquet = pq.ParquetFile(path)
    allowed = set(shown_columns(spec)) if spec is not None else None
    names = _shown(parquet.schema_arrow, allowed)
    if parquet.metadata.num_rows == 0:
        return "_no rows: the day had no data_"
    batch = next(parquet.iter_batches(batch_size=PREVIEW_ROWS, columns=names))
    return _markdown(names, batch.to_pylist())


def markdown_rows(rows: pa.Table) -> str:
    """The first rows of a table (read already) as a small markdown table, lineage columns left out."""
    names = _shown(rows.schema, None)
    return _markdown(names, rows.slice(0, PREVIEW_ROWS).select(names).to_pylist())


def _shown(schema: pa.Schema, allowed: set[str] | None) -> list[str]:
    return [n for n in schema.names if not n.startswith("_") and (allowed is None or n in allowed)][
        :PREVIEW_COLUMNS
    ]


def _markdown(names: list[str], rows: list[dict[str, Any]]) -> str:
    header = "| " + " | ".join(names) + " |\n|" + "---|" * len(names) + "\n"
    body = "".join("| " + " | ".join(_cell(row[n]) for n in names) + " |\n" for row in rows)
    return header + body


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:40]


def partition_metadata(
    *,
    rows: int,
    path: Path | None,
    size: int,
    schema: pa.Schema,
    extra: dict[str, Any],
    spec: TableSpec | None = None,
) -> dict[str, Any]:
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": column_schema(schema),
        "path": dg.MetadataValue.path(str(path or "")),
        "bytes": dg.MetadataValue.int(size),
        "preview": dg.MetadataValue.md(
            markdown_preview(path, spec) if path is not None else "_no rows: the day had no data_"
        ),
        **extra,
    }
