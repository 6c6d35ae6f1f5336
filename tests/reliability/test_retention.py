"""Retention: `--keep-days N` removes archive, lake, rejects and ledger partitions older than N days;
in the lake's Iceberg tables no file that any retained snapshot references holds an expired row."""

from __future__ import annotations

import os
import time
from datetime import date

import pyarrow.parquet as pq

from pipeline.cli import main as cli
from pipeline.layout import Layout, partition_dirs
from pipeline.orchestration.retention import apply_retention
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from tests.conftest import EMULATOR_TODAY
from tests.kits.fake_lake import lake_tables
from tests.kits.reliability import assert_no_partial_state, load_day, record, report_named
from tests.reliability.conftest import LICENSOR

DAYS = (date(2026, 6, 10), date(2026, 6, 11), date(2026, 6, 12))
REPORTS = (report_named("streams"), report_named("users"))


def _dates(root) -> set[date]:
    return {day for _, day, _ in partition_dirs(root)}


def _lake_dates(layout: Layout, table: str) -> set[date]:
    return {day for _, day in lake_tables(layout).files(table)}


def _referenced_dates(layout: Layout, table: str) -> set[date]:
    """The dates of the rows in every data file that the table's current snapshot or any retained
    snapshot references, read from the Parquet files themselves (not through a view)."""
    iceberg = lake_tables(layout).load(table)
    files = {
        task.file.file_path
        for s in iceberg.snapshots()
        for task in iceberg.scan(snapshot_id=s.snapshot_id).plan_files()
    }
    assert files
    return {day for path in files for day in pq.read_table(path, columns=["date"]).column("date").to_pylist()}


def test_retention_dry_run_then_delete(fault_emulator, tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "data"
    layout = Layout(data_dir)
    for day in DAYS:
        result = load_day(fault_emulator, data_dir, LICENSOR, day, reports=REPORTS, max_reject_share=1.0)
        assert not result.failures
    rejects = layout.rejects_partition("streams", LICENSOR, DAYS[0]) / "rejects.jsonl"
    rejects.parent.mkdir(parents=True, exist_ok=True)  # the day's reject tally is there already
    rejects.write_text('{"line": 1, "raw": "a raw line with a user id"}\n')
    assert build_warehouse(layout).passed  # it pins (and tags) the snapshots holding every day
    stale, fresh = layout.staging_root / "crashed-run", layout.staging_root / "running-now"
    for leftover in (stale, fresh):
        (leftover / "spill").mkdir(parents=True)
        (leftover / "spill" / "run-0.parquet").write_bytes(b"raw rows")
    old = time.time() - 3 * 86_400
    for path in (stale, stale / "spill", stale / "spill" / "run-0.parquet"):
        os.utime(path, (old, old))
    tables = ("streams", "users")

    # Dry run through the CLI: lists, deletes nothing.
    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(data_dir))
    monkeypatch.setattr("pipeline.orchestration.retention.utc_today", lambda: EMULATOR_TODAY)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["retention", "--keep-days", "4", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would delete 2 archive, 2 lake, 2 rejects, 2 ledger, 1 staging" in out
    assert "before 2026-06-11" in out and "date=2026-06-10" in out
    assert all(_lake_dates(layout, t) == set(DAYS) for t in tables) and stale.exists()
    assert all(DAYS[0] in _referenced_dates(layout, t) for t in tables)
    assert cli.main(["retention", "--keep-days", "0"]) == 2
    assert "--keep-days must be at least 1" in capsys.readouterr().err

    result = apply_retention(layout, keep_days=4, today=EMULATOR_TODAY)
    assert result.cutoff == date(2026, 6, 11) and not result.dry_run
    for table in tables:
        assert _lake_dates(layout, table) == set(DAYS[1:])
        assert _dates(layout.archive_root / table) == set(DAYS[1:])
        assert _referenced_dates(layout, table) == set(DAYS[1:])  # no snapshot keeps an expired row
    lake_files = [p for t in tables for p in (data_dir / "lake" / t).rglob("*.parquet")]
    assert lake_files and not [p for p in lake_files if "date=2026-06-10" in str(p)]  # none left on disk
    assert not rejects.exists() and not stale.exists() and fresh.exists()
    assert_no_partial_state(data_dir)
    con = open_catalog(layout.warehouse_path)  # the published catalog, re-published, still answers
    try:
        days = {d for (d,) in con.execute("SELECT DISTINCT date FROM stg_streams").fetchall()}
    finally:
        con.close()
    assert days == set(DAYS[1:])
    assert apply_retention(layout, keep_days=4, today=EMULATOR_TODAY).expired == ()  # idempotent
    counts = dict(result.counts())
    record("privacy", "retention --keep-days 4", f"dry run listed, then deleted {counts}; newer days intact")
