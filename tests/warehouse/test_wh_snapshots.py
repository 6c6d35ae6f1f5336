"""The warehouse's snapshots are Iceberg's: pinned per build, tagged when published, reproducible,
expired only after the readers' grace period, and one commit per mart per build."""

from __future__ import annotations

import json
import os
import time
from datetime import date

import duckdb
import pytest

from pipeline.dates import DateWindow
from pipeline.layout import Layout
from pipeline.storage.tables import PUBLISHED_TAG
from pipeline.warehouse.build import BuildResult, build_warehouse
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.paths import WarehousePaths
from tests.kits.fake_lake import lake_tables, write_day
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
    return len(table.metadata.metadata_log) + 1


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


def test_outside_engines_read_the_catalog_without_the_project(layout: Layout, built: BuildResult):
    """pyiceberg and polars read a mart and a lake table from the SQL catalog alone."""
    import subprocess
    import sys

    script = f"""
import sys
import polars as pl
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("spotify_bulk", uri="sqlite:///{layout.data_dir / "catalog.db"}",
                     warehouse="file://{layout.data_dir / "lake"}")
streams = catalog.load_table("lake.streams")
mart = catalog.load_table("marts.fct_daily_streams")
print(streams.scan().to_arrow().num_rows, mart.scan().to_arrow().num_rows)
print(pl.scan_iceberg(streams).select(pl.len()).collect().item(),
      pl.scan_iceberg(mart).select(pl.col("streams").sum()).collect().item())
assert "pipeline" not in sys.modules
"""
    env = {**os.environ, "POLARS_ICEBERG_PLANNER": "pyiceberg"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    (iceberg_lake, iceberg_mart), (polars_lake, polars_streams) = (
        line.split() for line in out.stdout.strip().splitlines()
    )
    con = open_catalog(layout.warehouse_path)
    lake_rows = con.execute("SELECT count(*) FROM lake.streams").fetchone()[0]
    mart_rows, streams = con.execute("SELECT count(*), sum(streams) FROM fct_daily_streams").fetchone()
    con.close()
    assert int(iceberg_lake) == int(polars_lake) == lake_rows > 0
    assert int(iceberg_mart) == mart_rows and int(polars_streams) == streams
