"""Publish the catalog: a small DuckDB file of views over pinned Iceberg snapshots, swapped in whole.

Readers open `warehouse.duckdb` read-only. Nobody ever writes that file in place: a fresh file is
built in staging and `os.replace`d over it, so readers never meet a lock and never see a half-built
state; a connection keeps what it opened until it reconnects. Lake views name the data files of the
lake snapshots the build pinned, mart views those of the marts' snapshots the build wrote; the ids
are tagged `published-*` in their tables and recorded in `_warehouse_build`, so expiry keeps them
while the catalog is current (and for the readers' grace period after), and the build can be
reproduced from them.

Analysts open the file with their own DuckDB, often an older one, and from wherever the data
directory is mounted. So it is written in DuckDB 1.1's storage format (`STORAGE_VERSION`), and its
views name files relative to the data directory. DuckDB resolves relative paths against the working
directory, then its `file_search_path`: `open_catalog` sets that to the catalog's directory, and a
DuckDB CLI is started from the data directory (or runs `SET file_search_path = '<data dir>'`).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from pipeline.config import reader_object_store
from pipeline.dates import DateWindow
from pipeline.reports import TABLES_BY_NAME
from pipeline.storage.atomic import fsync_dir, staging_dir
from pipeline.storage.object_store import duckdb_s3
from pipeline.storage.tables import ORPHAN_MIN_AGE_SECONDS, PUBLISHED_TAG
from pipeline.warehouse.enriched import define_catalog_views
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.quoting import quote_identifier, quote_literal
from pipeline.warehouse.session import Session
from pipeline.warehouse.sources import files_select, lake_columns

STORAGE_VERSION = "v1.1.0"  # the oldest DuckDB that opens the catalog: 1.1 (README, "Warehouse")


def open_catalog(path: Path, options: WarehouseOptions | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a published catalog that finds its files wherever it was moved,
    bounded like a build (`options`: memory limit and threads; a big query spills, not grows)."""
    config = {"file_search_path": str(path.parent), **(options or WarehouseOptions()).duckdb_config()}
    con = duckdb.connect(str(path), read_only=True, config=config)
    store = reader_object_store()
    if store is not None:  # the lake is on object storage: its views name s3:// files
        duckdb_s3(con, store)
    return con


def _write_catalog(path: Path, session: Session, window: DateWindow | None, tag: str) -> None:
    data_dir = session.paths.catalog_path.parent  # views bind now, so the names must resolve now
    config = {"storage_compatibility_version": STORAGE_VERSION, "file_search_path": str(data_dir)}
    con = duckdb.connect(str(path), config=config)
    if session.paths.lake.on_object_store:
        duckdb_s3(con, session.paths.lake.store)
    try:
        con.execute("BEGIN")  # one commit (one fsync) for the whole catalog, not one per statement
        con.execute("CREATE SCHEMA lake")
        pinned = session.pinned
        for table in TABLES_BY_NAME:
            files = [f for found in pinned.lake_files(table).values() for f in found]
            select = files_select(files, lake_columns(table), base=data_dir)
            con.execute(f"CREATE VIEW lake.{quote_identifier(table)} AS {select}")
        define_catalog_views(con, pinned, base=data_dir)
        con.execute(
            "CREATE TABLE _warehouse_models (name VARCHAR, layer VARCHAR, description VARCHAR, "
            "grain VARCHAR, key VARCHAR[], partitioned_by VARCHAR, columns JSON)"
        )
        for model in session.models.values():
            name = quote_identifier(model.name)
            if model.materialized:
                files = [f for found in pinned.mart_files(model.name).values() for f in found]
                body = files_select(files, session.columns[model.name], base=data_dir)
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
            "CREATE TABLE _warehouse_build AS SELECT ? AS snapshot, ? AS built_at, "
            "? AS window_start, ? AS window_end, CAST(? AS JSON) AS snapshot_ids",
            [
                tag,
                datetime.now(UTC),
                window.start if window else None,
                window.end if window else None,
                json.dumps(pinned.snapshot_ids()),
            ],
        )
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def publish_catalog(session: Session, window: DateWindow | None = None) -> dict[str, int]:
    """Tag the snapshots the build read and wrote, write a fresh catalog over them, swap it in, then
    expire what no reader can still hold; returns the published snapshot ids (`lake.*`, `marts.*`)."""
    paths, pinned = session.paths, session.pinned
    tag = f"{PUBLISHED_TAG}{time.time_ns()}"
    paths.lake.tag(pinned.lake_ids, tag)
    paths.marts.tag(pinned.mart_ids(), tag)
    with staging_dir(paths.staging_root) as scratch:
        built = scratch / "warehouse.duckdb"
        _write_catalog(built, session, window, tag)
        paths.catalog_path.parent.mkdir(parents=True, exist_ok=True)
        # A WAL beside the catalog can only come from someone writing into it: it belongs to the old file.
        paths.catalog_path.with_name(paths.catalog_path.name + ".wal").unlink(missing_ok=True)
        os.replace(built, paths.catalog_path)
        fsync_dir(paths.catalog_path.parent)
    collect(session, keep_tags={tag})
    return pinned.snapshot_ids()


def collect(session: Session, *, keep_tags: set[str]) -> int:
    """Expire snapshots superseded (and unpublished) for longer than the readers' grace period,
    then sweep files nothing references that are old enough not to be a writer's in flight (a load
    may commit while the build publishes); how many snapshots went."""
    now, grace = datetime.now(UTC), session.options.reader_grace_seconds
    cutoff = now - timedelta(seconds=grace)
    in_flight = now - timedelta(seconds=max(grace, ORPHAN_MIN_AGE_SECONDS))  # see ORPHAN_MIN_AGE_SECONDS
    expired = 0
    for tables in (session.paths.lake, session.paths.marts, session.paths.accumulators):
        expired += tables.expire(cutoff, keep_tags=keep_tags)
        tables.remove_orphans(in_flight)
    return expired
