"""The warehouse's snapshots are Iceberg's: pinned per build, tagged when published, reproducible,
expired only after the readers' grace period, and one commit per mart per build."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa
import pytest

from pipeline.config import settings_from
from pipeline.dates import DateWindow
from pipeline.enrichment.store import upsert
from pipeline.enrichment.tables import CATALOG_TRACKS
from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.orchestration.resources import lake_resource
from pipeline.orchestration.retention import apply_retention
from pipeline.storage.partition_columns import local_path
from pipeline.storage.tables import PUBLISHED_TAG, WHOLE
from pipeline.warehouse.build import BuildResult, build_warehouse
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.paths import WarehousePaths
from tests.kits.fake_lake import lake_tables, metadata_version, write_day
from tests.kits.warehouse import QUIET_MARTS


def _published_ids(layout: Layout) -> dict[str, int]:
    con = open_catalog(layout.warehouse_path)
    try:
        return json.loads(con.execute("SELECT snapshot_ids FROM _warehouse_build").fetchone()[0])
    finally:
        con.close()


def test_a_build_reports_and_publishes_the_snapshot_ids_it_read_and_wrote(layout: Layout, built: BuildResult):
    ids = built.snapshot_ids
    lake, marts = lake_tables(layout), WarehousePaths(layout).marts
    assert {f"lake.{t}" for t in lake.table_names()} <= ids.keys()
    written = {m for m in marts.table_names() if marts.load(m).current_snapshot() is not None}
    assert {f"marts.{m}" for m in written} <= ids.keys() and len(written) > 10
    assert _published_ids(layout) == ids
    for name, sid in ids.items():  # each is tagged in its table: expiry keeps it while published
        namespace, table = name.split(".", 1)
        refs = (lake if namespace == "lake" else marts).load(table).metadata.refs
        assert any(ref.startswith(PUBLISHED_TAG) and r.snapshot_id == sid for ref, r in refs.items())


def test_time_travel_reproduces_what_a_build_read(layout: Layout, built: BuildResult, built_days: list[date]):
    day = built_days[2]
    pinned = built.snapshot_ids["lake.streams"]
    con = open_catalog(layout.warehouse_path)
    published = con.execute("SELECT count(*) FROM lake.streams WHERE date = $d", {"d": day}).fetchone()[0]
    con.close()
    write_day(layout, "acme", day, variant=3)  # a re-publication after the build
    lake = lake_tables(layout)
    then = lake.read("streams", snapshot_id=pinned).to_pylist()
    assert sum(1 for r in then if r["date"] == day) == published  # the build's input, as it was
    current = lake.read("streams").to_pylist()
    assert sum(1 for r in current if r["date"] == day) == published + 21


def _commits(layout: Layout, model: str) -> int:
    """Metadata versions of a mart table: one per catalog commit."""
    table = WarehousePaths(layout).marts.load(model)
    assert table is not None
    return metadata_version(table)


def test_a_build_of_n_days_commits_each_mart_once(layout: Layout, built: BuildResult, built_days: list[date]):
    before = {m.model: _commits(layout, m.model) for m in built.models}
    result = build_warehouse(layout, DateWindow(built_days[0], built_days[-1]))
    assert result.passed
    rebuilt = [m for m in result.models if m.window is not None and m.model not in QUIET_MARTS]
    assert len(rebuilt) > 3 and all(m.partitions_written > 1 for m in rebuilt)
    for model in rebuilt:  # one data commit (plus the publish tag's)
        assert _commits(layout, model.model) - before[model.model] == 2, model.model


def _reader(layout: Layout) -> duckdb.DuckDBPyConnection:
    return open_catalog(layout.warehouse_path)


def test_an_old_catalog_keeps_answering_until_the_grace_period(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    reader = _reader(layout)  # an analyst's session on the current catalog
    query = "SELECT count(*), sum(streams) FROM fct_daily_streams"
    lake_query = "SELECT count(*) FROM lake.streams"
    expected, lake_rows = reader.execute(query).fetchone(), reader.execute(lake_query).fetchone()
    day = built_days[-1]
    for variant in (1, 2):  # loads and builds replace the partitions the reader's catalog names
        write_day(layout, "acme", day, variant=variant)
        assert build_warehouse(layout, DateWindow(day, day)).passed
        assert reader.execute(query).fetchone() == expected
        assert reader.execute(lake_query).fetchone() == lake_rows
    # Past the grace period the superseded snapshots expire and their files go: only then does
    # the old session lose them (a new one sees the current state).
    time.sleep(0.05)
    assert build_warehouse(
        layout, DateWindow(day, day), options=WarehouseOptions(reader_grace_seconds=0)
    ).passed
    with pytest.raises(duckdb.Error):
        reader.execute(query).fetchall()
    reader.close()
    fresh = _reader(layout)
    assert fresh.execute(query).fetchone()[0] > 0
    fresh.close()


def _enriched_tracks(layout: Layout, count: int) -> None:
    """`count` Web API catalog tracks committed as an enrichment pass commits them."""
    at = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
    rows = [{"track_id": f"{n:022d}", "popularity": n % 100, "fetched_at": at} for n in range(count)]
    upsert(lake_tables(layout), CATALOG_TRACKS, pa.Table.from_pylist(rows, schema=CATALOG_TRACKS.schema))


def test_outside_engines_read_the_catalog_without_the_project(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    """pyiceberg and polars read a mart, a lake table and a Web API catalog table from the SQL
    catalog alone."""
    import subprocess
    import sys

    _enriched_tracks(layout, 7)
    assert build_warehouse(layout, DateWindow(built_days[-1], built_days[-1])).passed
    script = f"""
import sys
import polars as pl
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("spotify_bulk", uri="sqlite:///{layout.data_dir / "catalog.db"}",
                     warehouse="file://{layout.data_dir / "lake"}")
streams = catalog.load_table("lake.streams")
mart = catalog.load_table("marts.fct_daily_streams")
tracks = catalog.load_table("lake.catalog_tracks")
print(streams.scan().to_arrow().num_rows, mart.scan().to_arrow().num_rows, tracks.scan().to_arrow().num_rows)
print(pl.scan_iceberg(streams).select(pl.len()).collect().item(),
      pl.scan_iceberg(mart).select(pl.col("streams").sum()).collect().item(),
      pl.scan_iceberg(tracks).select(pl.col("popularity").sum()).collect().item())
assert "pipeline" not in sys.modules
"""
    env = {**os.environ, "POLARS_ICEBERG_PLANNER": "pyiceberg"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    (iceberg_lake, iceberg_mart, iceberg_tracks), (polars_lake, polars_streams, polars_popularity) = (
        line.split() for line in out.stdout.strip().splitlines()
    )
    con = open_catalog(layout.warehouse_path)
    lake_rows = con.execute("SELECT count(*) FROM lake.streams").fetchone()[0]
    mart_rows, streams = con.execute("SELECT count(*), sum(streams) FROM fct_daily_streams").fetchone()
    tracks, popularity = con.execute("SELECT count(*), sum(popularity) FROM lake.catalog_tracks").fetchone()
    con.close()
    assert int(iceberg_lake) == int(polars_lake) == lake_rows > 0
    assert int(iceberg_mart) == mart_rows and int(polars_streams) == streams
    assert int(iceberg_tracks) == tracks == 7 and int(polars_popularity) == popularity == sum(range(7))


def test_catalog_snapshots_expire_like_the_lakes_and_retention_leaves_the_catalog(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    """The Web API catalog's tables are in the lake's namespace: a build pins and tags them, expiry
    deletes the files only superseded snapshots held; retention (dated rows) does not touch them."""
    lake = lake_tables(layout)
    _enriched_tracks(layout, 5)
    first = set(lake.files("catalog_tracks")[WHOLE])
    _enriched_tracks(layout, 5)  # a refetch of every id: the first pass's file is superseded
    assert not first & set(lake.files("catalog_tracks")[WHOLE])
    assert all(local_path(f).is_file() for f in first)  # kept for readers of the old snapshot
    time.sleep(0.05)
    day = built_days[-1]
    result = build_warehouse(layout, DateWindow(day, day), options=WarehouseOptions(reader_grace_seconds=0))
    assert result.passed and "lake.catalog_tracks" in result.snapshot_ids
    assert not any(local_path(f).exists() for f in first)  # expired with its snapshot
    assert len(lake.load("catalog_tracks").snapshots()) == 1  # the published one

    kept = lake.read("catalog_tracks").num_rows
    apply_retention(layout, keep_days=2, today=built_days[-1])
    assert min(d for _, d in lake.files("streams")) > built_days[0]  # the report tables were cut
    assert lake.read("catalog_tracks").num_rows == kept == 5  # the catalog is not dated: untouched
    con = open_catalog(layout.warehouse_path)
    try:
        assert con.execute("SELECT count(*) FROM lake.catalog_tracks").fetchone()[0] == 5
    finally:
        con.close()


def test_the_grace_period_is_a_setting_that_reaches_the_warehouse_steps_and_the_loads():
    assert settings_from({}).reader_grace_seconds == 3600.0
    settings = settings_from({"SPOTIFY_BULK_READER_GRACE_SECONDS": "28800"})  # a working day
    assert WarehouseOptions.from_settings(settings).reader_grace_seconds == 28800.0
    assert lake_resource(settings).warehouse_options().reader_grace_seconds == 28800.0
    assert lake_resource(settings).landing_options().reader_grace_seconds == 28800.0  # load expiry
    with pytest.raises(UsageError, match="SPOTIFY_BULK_READER_GRACE_SECONDS"):
        settings_from({"SPOTIFY_BULK_READER_GRACE_SECONDS": "-1"})
    with pytest.raises(UsageError, match="SPOTIFY_BULK_READER_GRACE_SECONDS"):
        settings_from({"SPOTIFY_BULK_READER_GRACE_SECONDS": "an hour"})


def test_a_build_never_sweeps_a_file_a_writer_may_still_commit(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    """With no grace for readers, the sweep still leaves a young unreferenced file alone (a load
    renames its file into the table's folder, then commits, maybe while a build publishes); an old
    one, a crashed writer's, goes."""
    folder = local_path(lake_tables(layout).load("streams").location())
    assert folder is not None
    in_flight, crashed = folder / "data" / "in-flight.parquet", folder / "data" / "crashed.parquet"
    for path in (in_flight, crashed):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PAR1")
    two_hours_ago = time.time() - 7200
    os.utime(crashed, (two_hours_ago, two_hours_ago))
    day = built_days[-1]
    assert build_warehouse(
        layout, DateWindow(day, day), options=WarehouseOptions(reader_grace_seconds=0)
    ).passed
    assert in_flight.exists()
    assert not crashed.exists()
