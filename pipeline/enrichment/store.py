"""Reading and atomically rewriting the catalog's Parquet files, and the fetch-state table.

Each file is rewritten whole through `atomic_write_bytes` (a temporary sibling renamed into place):
readers see the previous file or the new one, and a crash leaves the previous one. Upserts replace
the rows of the ids just fetched and keep every other row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.enrichment.tables import STATE_SCHEMA
from pipeline.storage.atomic import atomic_write_bytes


def read_table(path: Path, schema: pa.Schema) -> pa.Table:
    """The file as `schema` (columns it lacks become null, extra ones are dropped); empty if absent."""
    if not path.is_file():
        return schema.empty_table()
    table = pq.read_table(path)
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def count_rows(path: Path) -> int:
    """Rows in a Parquet file (from its footer), 0 if it does not exist."""
    return pq.ParquetFile(path).metadata.num_rows if path.is_file() else 0


def write_table(path: Path, table: pa.Table) -> int:
    """Write `table` as zstd Parquet, atomically; returns the file's size in bytes."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    atomic_write_bytes(path, data)
    return len(data)


def upsert(path: Path, schema: pa.Schema, key: str, rows: pa.Table) -> pa.Table:
    """Replace the rows of `rows`' keys in the file at `path` (adding new ones); returns the result."""
    current = read_table(path, schema)
    keep = current.filter(pc.invert(pc.is_in(current.column(key), value_set=rows.column(key))))
    merged = pa.concat_tables([keep, rows.select(schema.names).cast(schema)]).sort_by(key)
    write_table(path, merged)
    return merged


def state_rows(ids: list[str], found: bool, at: datetime) -> pa.Table:
    """Fetch-state rows: these ids were asked at `at` and were (not) found."""
    columns = {"id": ids, "found": [found] * len(ids), "fetched_at": [at] * len(ids)}
    return pa.table(columns, schema=STATE_SCHEMA)


def due_ids(wanted: list[str], state: pa.Table, now: datetime, ttl: timedelta) -> list[str]:
    """The wanted ids never asked, then those asked longer than `ttl` ago (oldest first)."""
    last = dict(zip(state.column("id").to_pylist(), state.column("fetched_at").to_pylist(), strict=True))
    cutoff = now - ttl
    never = [i for i in wanted if last.get(i) is None]
    stale = sorted((last[i], i) for i in wanted if last.get(i) is not None and last[i] <= cutoff)
    return never + [i for _, i in stale]
