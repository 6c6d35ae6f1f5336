"""Publish the catalog: a small DuckDB file of views over one immutable snapshot, swapped in whole.

Readers open `warehouse.duckdb` read-only. Nobody ever writes that file in place: a fresh file is
built in staging and `os.replace`d over it, so readers never meet a lock and never see a half-built
state; a connection keeps the snapshot it opened until it reconnects. Lake views read the snapshot's
lake; mart views list the immutable mart versions the snapshot notes (see snapshot.py).

Analysts open the file with their own DuckDB, often an older one, and from wherever the data
directory is mounted. So it is written in DuckDB 1.1's storage format (`STORAGE_VERSION`), and its
views name files relative to the data directory. DuckDB resolves relative paths against the working
directory, then its `file_search_path`: `open_catalog` sets that to the catalog's directory, and a
DuckDB CLI is started from the data directory (or runs `SET file_search_path = '<data dir>'`).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.dates import DateWindow
from pipeline.reports import TABLES_BY_NAME
from pipeline.storage.atomic import atomic_write_bytes, fsync_dir, staging_dir
from pipeline.warehouse.enriched import define_catalog_views
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.quoting import quote_identifier, quote_literal
from pipeline.warehouse.session import Session
from pipeline.warehouse.snapshot import record_marts, store_mart
from pipeline.warehouse.sources import files_select, lake_columns, parquet_select

STORAGE_VERSION = "v1.1.0"  # the oldest DuckDB that opens the catalog: 1.1 (README, "Warehouse")


def open_catalog(path: Path, options: WarehouseOptions | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a published catalog that finds its files wherever it was moved,
    bounded like a build (`options`: memory limit and threads; a big query spills, not grows)."""
    config = {"file_search_path": str(path.parent), **(options or WarehouseOptions()).duckdb_config()}
    return duckdb.connect(str(path), read_only=True, config=config)


def _snapshot_for_catalog(session: Session, lake_snapshot: Path | None) -> tuple[Path, dict[str, list[Path]]]:
    """The immutable snapshot the catalog will read, and the mart versions it will read.

    The lake is the one the build read: the build's own snapshot, or (a Dagster run's publish step)
    the run's snapshot the session reads; the marts are their current files, linked into the
    version store if new, and noted in the snapshot so garbage collection keeps them.
    """
    paths = session.paths
    snapshot = lake_snapshot if lake_snapshot is not None else session.lake_root.parent
    if snapshot.parent != paths.snapshots_root:
        raise ValueError(f"{snapshot} is not a snapshot under {paths.snapshots_root}")
    versions = {
        m.name: store_mart(paths, m.name, partitioned=m.partitioned)
        for m in session.models.values()
        if m.materialized
    }
    record_marts(snapshot, [v for files in versions.values() for v in files], paths.mart_versions_root)
    return snapshot, versions


def _write_catalog(
    path: Path,
    session: Session,
    snapshot: Path,
    versions: dict[str, list[Path]],
    window: DateWindow | None,
) -> None:
    data_dir = session.paths.catalog_path.parent  # views bind now, so the names must resolve now
    config = {"storage_compatibility_version": STORAGE_VERSION, "file_search_path": str(data_dir)}
    con = duckdb.connect(str(path), config=config)
    try:
        con.execute("BEGIN")  # one commit (one fsync) for the whole catalog, not one per statement
        con.execute("CREATE SCHEMA lake")
        for table in TABLES_BY_NAME:
            root = snapshot / "lake" / table
            select = parquet_select(root, lake_columns(table), partitioned=True, base=data_dir)
            con.execute(f"CREATE VIEW lake.{quote_identifier(table)} AS {select}")
        define_catalog_views(con, snapshot / "lake", base=data_dir)
        con.execute(
            "CREATE TABLE _warehouse_models (name VARCHAR, layer VARCHAR, description VARCHAR, "
            "grain VARCHAR, key VARCHAR[], partitioned_by VARCHAR, columns JSON)"
        )
        for model in session.models.values():
            name = quote_identifier(model.name)
            if model.materialized:
                body = files_select(
                    versions[model.name],
                    session.columns[model.name],
                    partitioned=model.partitioned,
                    base=data_dir,
                )
            else:
                body = model.sql + "\n"
            con.execute(f"CREATE VIEW {name} AS {body}")
            con.execute(f"COMMENT ON VIEW {name} IS {quote_literal(model.description)}")
            con.execute(
                "INSERT INTO _warehouse_models VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    model.name,
                    model.layer,
                    model.description,
                    model.grain,
                    list(model.key),
                    "date" if model.partitioned else "none",
                    json.dumps(dict(session.columns[model.name])),
                ],
            )
        con.execute(
            "CREATE TABLE _warehouse_build AS "
            "SELECT ? AS snapshot, ? AS built_at, ? AS window_start, ? AS window_end",
            [
                snapshot.name,
                datetime.now(UTC),
                window.start if window else None,
                window.end if window else None,
            ],
        )
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def publish_catalog(
    session: Session, window: DateWindow | None = None, *, lake_snapshot: Path | None = None
) -> Path:
    """Snapshot lake and marts, write a fresh catalog over that snapshot, swap it in; returns the snapshot.

    `lake_snapshot`: the build's own lake snapshot (default: the one the session reads).
    """
    paths = session.paths
    snapshot, versions = _snapshot_for_catalog(session, lake_snapshot)
    with staging_dir(paths.staging_root) as scratch:
        built = scratch / "warehouse.duckdb"
        _write_catalog(built, session, snapshot, versions, window)
        paths.catalog_path.parent.mkdir(parents=True, exist_ok=True)
        # A WAL beside the catalog can only come from someone writing into it: it belongs to the old file.
        paths.catalog_path.with_name(paths.catalog_path.name + ".wal").unlink(missing_ok=True)
        os.replace(built, paths.catalog_path)
        fsync_dir(paths.catalog_path.parent)
    atomic_write_bytes(paths.current_pointer, snapshot.name.encode())
    return snapshot
