"""Materialization metadata for lake partitions: row count, schema, file, size and a preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

PREVIEW_ROWS = 5
PREVIEW_COLUMNS = 8


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in schema])


def markdown_preview(path: Path) -> str:
    """The first rows of a Parquet file as a small markdown table (lineage columns left out)."""
    parquet = pq.ParquetFile(path)
    names = [n for n in parquet.schema_arrow.names if not n.startswith("_")][:PREVIEW_COLUMNS]
    if parquet.metadata.num_rows == 0:
        return "_no rows: the day had no data_"
    batch = next(parquet.iter_batches(batch_size=PREVIEW_ROWS, columns=names))
    rows = batch.to_pylist()
    header = "| " + " | ".join(names) + " |\n|" + "---|" * len(names) + "\n"
    body = "".join("| " + " | ".join(_cell(row[n]) for n in names) + " |\n" for row in rows)
    return header + body


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:40]


def partition_metadata(
    *, rows: int, path: Path, size: int, schema: pa.Schema, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": column_schema(schema),
        "path": dg.MetadataValue.path(str(path)),
        "bytes": dg.MetadataValue.int(size),
        "preview": dg.MetadataValue.md(markdown_preview(path)),
        **extra,
    }
