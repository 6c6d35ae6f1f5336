"""Blocking reconciliation checks: a planted inconsistency stops the build before readers see it."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult, build_warehouse
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.models import SQL_ROOT
from tests.kits.fake_lake import day_tables, write_partition


def _published_snapshot(layout: Layout) -> str:
    con = open_catalog(layout.warehouse_path)
    try:
        return con.execute("SELECT snapshot FROM _warehouse_build").fetchone()[0]
    finally:
        con.close()


def test_lake_inconsistencies_fail_the_blocking_checks(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    day = built_days[2]
    streams = day_tables("acme", day)["streams"]
    stranger = dict(streams[0], user_id="nobody", track_id="0" * 22)
    write_partition(layout, "streams", "acme", day, [*streams, stranger])
    before = _published_snapshot(layout)

    result = build_warehouse(layout)
    failed = {c.name: c for c in result.failed_checks}
    assert set(failed) == {
        "aggregated_count_matches_streams",
        "streamed_users_in_users",
        "streamed_tracks_in_tracks",
    }
    assert failed["streamed_users_in_users"].failures == 1
    assert failed["streamed_users_in_users"].sample == (("acme", day, "nobody"),)
    assert failed["streamed_tracks_in_tracks"].sample == (("acme", day, "0" * 22),)
    mismatch = failed["aggregated_count_matches_streams"].sample[0]
    assert mismatch[2] == "0" * 22 and mismatch[4:] == (0, 1)
    assert result.models == () and result.catalog is None  # nothing built, nothing published
    assert _published_snapshot(layout) == before


def test_a_duplicate_key_blocks_publishing(layout: Layout, built: BuildResult, tmp_path: Path):
    sql_root = tmp_path / "sql"
    shutil.copytree(SQL_ROOT, sql_root)
    path = sql_root / "marts" / "dim_country.sql"
    path.write_text(path.read_text() + "\nUNION ALL SELECT 'US', 'Again', 'Americas', 'Northern America'\n")
    before = _published_snapshot(layout)
    result = build_warehouse(layout, sql_root=sql_root)
    assert [(c.model, c.name, c.failures) for c in result.failed_checks] == [("dim_country", "unique_key", 1)]
    assert result.failed_checks[0].sample == (("US", 2),)
    assert [b.model for b in result.models] == ["dim_country"]  # later models were not built
    assert result.catalog is None and _published_snapshot(layout) == before
