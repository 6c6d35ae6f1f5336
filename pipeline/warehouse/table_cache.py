"""A table-format lake read through a local cache of one pinned snapshot per table.

Why a cache: the warehouse's views, checks and accumulators read Hive `licensor=/date=` Parquet
with DuckDB, and DuckDB 2.0 has no httpfs offline (its extension wheels stop at 1.5.5). So a build
pins each Iceberg table's current snapshot, brings exactly the partitions whose data files changed
since the last sync into the local lake directory (each swapped in atomically), drops partitions the
snapshot no longer has, and records the pins in `lake-snapshot.json`. Everything downstream
(build, `spotify-bulk query`, the dashboard) then runs unchanged on a consistent snapshot, whatever
other machines commit meanwhile. Other engines read the Iceberg tables directly (docs/scale.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.layout import Layout
from pipeline.reports import TABLES_BY_NAME
from pipeline.storage.atomic import atomic_write_bytes, publish_dir, remove_dir, staging_dir
from pipeline.storage.tables import PARTITION_COLUMNS, TableLake, read_files_marker, write_files_marker
from pipeline.warehouse.paths import partition_dirs

PIN_FILE = "lake-snapshot.json"
PART_FILE = "part-0.parquet"


@dataclass(frozen=True)
class SyncResult:
    pins: dict[str, int]  # table -> snapshot id the cache now shows
    fetched: int  # partitions copied from the table-format lake
    removed: int  # cached partitions the snapshot no longer has
    kept: int  # cached partitions already current


def synced_for_run(layout: Layout, run_id: str) -> bool:
    """Whether the cache was already synced for run `run_id`: its later steps keep that snapshot
    (one consistent lake per build, whatever other machines commit meanwhile)."""
    try:
        return bool(run_id) and json.loads((layout.data_dir / PIN_FILE).read_text()).get("run_id") == run_id
    except (OSError, ValueError):
        return False


def sync_cache(tables: TableLake, layout: Layout, *, run_id: str = "") -> SyncResult:
    """Make the local lake a copy of the tables' current snapshots (pinned first, then copied),
    recorded as run `run_id`'s snapshot."""
    pins = {name: sid for name, sid in tables.snapshot_ids().items() if name in TABLES_BY_NAME}
    fetched = removed = kept = 0
    for name in TABLES_BY_NAME:
        wanted = tables.partitions(name, snapshot_id=pins[name]) if name in pins else {}
        for licensor, day, directory in partition_dirs(layout.lake_table(name)):
            if (licensor, day) not in wanted:
                remove_dir(directory, staging_root=layout.staging_root)
                removed += 1
        for (licensor, day), files in wanted.items():
            final = layout.lake_partition(name, licensor, day)
            if read_files_marker(final) == files:
                kept += 1
                continue
            _fetch(tables, layout, name, licensor, day, pins[name], files)
            fetched += 1
    pinned = {"location": tables.location, "snapshots": pins, "run_id": run_id}
    pin_text = json.dumps(pinned, indent=2, sort_keys=True)
    atomic_write_bytes(layout.data_dir / PIN_FILE, pin_text.encode())
    return SyncResult(pins, fetched, removed, kept)


def _fetch(
    tables: TableLake, layout: Layout, name: str, licensor: str, day: date, snapshot: int, files: list[str]
) -> None:
    data = tables.read(name, licensor=licensor, day=day, snapshot_id=snapshot)
    data = _as_landed(data.drop_columns([column for column, _ in PARTITION_COLUMNS]), name)
    with staging_dir(layout.staging_root) as work:
        built = work / "partition"
        built.mkdir()
        pq.write_table(data, built / PART_FILE, compression="zstd")
        write_files_marker(built, files)
        publish_dir(built, layout.lake_partition(name, licensor, day), staging_root=layout.staging_root)


def _as_landed(data: pa.Table, name: str) -> pa.Table:
    """The columns typed as landing declares them (Iceberg names list items `element`, not `item`)."""
    declared = TABLES_BY_NAME[name].schema
    known = set(declared.names)
    columns = [
        data.column(f.name).cast(declared.field(f.name).type) if f.name in known else data.column(f.name)
        for f in data.schema
    ]
    fields = [declared.field(f.name) if f.name in known else f.with_nullable(True) for f in data.schema]
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
