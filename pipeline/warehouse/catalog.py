"""Publish the catalog: a small DuckDB file of views over one immutable snapshot, swapped in whole.

Readers open `warehouse.duckdb` read-only. Nobody ever writes that file in place: a fresh file is
built in staging and `os.replace`d over it, so readers never meet a lock and never see a half-built
state; a connection keeps the snapshot it opened until it reconnects.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.atomic import atomic_write_bytes, fsync_dir, staging_dir
from pipeline.dates import DateWindow
from pipeline.reports import TABLES_BY_NAME
from pipeline.warehouse.enriched import define_catalog_views, link_catalog
from pipeline.warehouse.quoting import quote_identifier, quote_literal
from pipeline.warehouse.session import Session
from pipeline.warehouse.snapshot import link_tree, new_snapshot_id
from pipeline.warehouse.sources import lake_columns, parquet_select


def _link_marts(session: Session, target: Path) -> None:
    for model in session.models.values():
        if model.materialized:
            source = session.paths.mart_dir(model.name)
            link_tree(source, target / "marts" / model.name, partitioned=model.partitioned)


def _snapshot_for_catalog(session: Session, lake_snapshot: Path | None) -> Path:
    """The immutable snapshot the catalog will read: lake as the build saw it, marts as built.

    A build's own lake snapshot, not yet published, simply gains the marts (no second pass over
    the lake); otherwise the lake is re-linked from the session's snapshot into a new one.
    """
    paths = session.paths
    if lake_snapshot is not None and not (lake_snapshot / "marts").exists():
        building = lake_snapshot / f".marts-{uuid.uuid4().hex}"
        _link_marts(session, building)
        (building / "marts").mkdir(parents=True, exist_ok=True)
        os.rename(building / "marts", lake_snapshot / "marts")
        shutil.rmtree(building, ignore_errors=True)
        return lake_snapshot
    target = paths.snapshots_root / new_snapshot_id()
    building = paths.staging_root / f"snapshot-{uuid.uuid4().hex}"
    try:
        for table in TABLES_BY_NAME:
            link_tree(session.lake_root / table, building / "lake" / table, partitioned=True)
        link_catalog(session.lake_root, building / "lake")
        _link_marts(session, building)
        building.mkdir(parents=True, exist_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def _write_catalog(path: Path, session: Session, snapshot: Path, window: DateWindow | None) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("BEGIN")  # one commit (one fsync) for the whole catalog, not one per statement
        con.execute("CREATE SCHEMA lake")
        for table in TABLES_BY_NAME:
            select = parquet_select(snapshot / "lake" / table, lake_columns(table), partitioned=True)
            con.execute(f"CREATE VIEW lake.{quote_identifier(table)} AS {select}")
        define_catalog_views(con, snapshot / "lake")
        con.execute(
            "CREATE TABLE _warehouse_models (name VARCHAR, layer VARCHAR, description VARCHAR, "
            "grain VARCHAR, key VARCHAR[], partitioned_by VARCHAR, columns JSON)"
        )
        for model in session.models.values():
            name = quote_identifier(model.name)
            if model.materialized:
                root = snapshot / "marts" / model.name
                body = parquet_select(root, session.columns[model.name], partitioned=model.partitioned)
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

    `lake_snapshot`: the build's own, unpublished lake snapshot, which then becomes the catalog's.
    """
    paths = session.paths
    snapshot = _snapshot_for_catalog(session, lake_snapshot)
    with staging_dir(paths.staging_root) as scratch:
        built = scratch / "warehouse.duckdb"
        _write_catalog(built, session, snapshot, window)
        paths.catalog_path.parent.mkdir(parents=True, exist_ok=True)
        # A WAL beside the catalog can only come from someone writing into it: it belongs to the old file.
        paths.catalog_path.with_name(paths.catalog_path.name + ".wal").unlink(missing_ok=True)
        os.replace(built, paths.catalog_path)
        fsync_dir(paths.catalog_path.parent)
    atomic_write_bytes(paths.current_pointer, snapshot.name.encode())
    return snapshot
