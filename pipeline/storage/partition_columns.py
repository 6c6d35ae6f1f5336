"""The partition columns of the lake's files, and file paths: what landing needs of the table format.

Landing imports only this (pyarrow), not the Iceberg tables: pyiceberg and SQLAlchemy are imported
when a load commits, after its parse and sort, so they add nothing to landing's peak memory.
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq

PARTITION_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (("licensor", pa.string()), ("date", pa.date32()))


def with_partition_columns(data: pa.Table, licensor: str, day: date) -> pa.Table:
    """`data` with the partition's licensor and date as columns (the Hive keys, now in the files)."""
    for name, kind in PARTITION_COLUMNS:
        value = licensor if name == "licensor" else day
        if name in data.column_names:
            data = data.drop_columns([name])
        data = data.append_column(pa.field(name, kind), pa.repeat(pa.scalar(value, kind), data.num_rows))
    return nullable(data)


def holds_only_partition(metadata: pq.FileMetaData, licensor: str, day: date) -> bool:
    """Whether every row group's statistics say its partition columns hold only this partition's
    values (so the file can be committed as it is)."""
    schema = metadata.schema.to_arrow_schema()
    for name, _kind in PARTITION_COLUMNS:
        expected = licensor if name == "licensor" else day
        index = schema.get_field_index(name)
        if index < 0:
            return False
        for group in range(metadata.num_row_groups):
            stats = metadata.row_group(group).column(index).statistics
            if stats is None or not stats.has_min_max or stats.null_count:
                return False
            if stats.min != expected or stats.max != expected:
                return False
    return True


def without_partition_columns(schema: pa.Schema) -> pa.Schema:
    """`schema` less the partition columns (a landed file's declared schema)."""
    names = {name for name, _ in PARTITION_COLUMNS}
    return pa.schema([f for f in schema if f.name not in names], metadata=schema.metadata)


def nullable(data: pa.Table) -> pa.Table:
    """Every field optional, as the tables declare them: so any landed day fits the table's schema."""
    schema = pa.schema([f.with_nullable(True) for f in data.schema], metadata=data.schema.metadata)
    return data.cast(schema)


@functools.lru_cache(maxsize=1 << 16)
def local_path(uri: str) -> Path | None:
    """The local path of a `file://` URI (or a plain path); None for an object-store URI.
    Remembered per URI: a publish names every data file of the history, build after build."""
    if "://" not in uri:
        return Path(uri)
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None
