"""The local read cache of an Iceberg lake (moto): only changed partitions fetched, gone ones removed,
and one pinned snapshot per warehouse run."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow.parquet as pq

from pipeline.config import Settings, open_table_lake
from pipeline.layout import Layout
from pipeline.warehouse.table_cache import PIN_FILE, sync_cache, synced_for_run
from tests.kits.commit_driver import rows

DAY = date(2026, 6, 10)


def test_sync_fetches_changes_only_removes_gone_partitions_and_pins_per_run(tmp_path, moto_store):
    settings = Settings(data_dir=tmp_path, lake_url="s3://cache/lake", object_store=moto_store)
    lake, layout = open_table_lake(settings), Layout(tmp_path / "machine-b")
    for n in range(2):
        lake.replace_partition("streams", "acme", DAY + timedelta(days=n), rows(3, n))

    first = sync_cache(lake, layout, run_id="run-1")
    assert (first.fetched, first.kept, first.removed) == (2, 0, 0)
    assert synced_for_run(layout, "run-1") and not synced_for_run(layout, "run-2")
    assert (layout.data_dir / PIN_FILE).exists()

    lake.replace_partition("streams", "acme", DAY, rows(5, 7))  # another machine commits meanwhile
    lake.delete_before(DAY + timedelta(days=1))  # and retention drops the first day
    lake.replace_partition("streams", "acme", DAY + timedelta(days=2), rows(1, 9))
    second = sync_cache(lake, layout, run_id="run-2")
    assert (second.fetched, second.kept, second.removed) == (1, 1, 1)
    assert second.pins == {"streams": lake.snapshot_ids()["streams"]}
    assert not layout.lake_partition("streams", "acme", DAY).exists()
    latest = pq.read_table(
        layout.lake_partition("streams", "acme", DAY + timedelta(days=2)) / "part-0.parquet"
    )
    assert (
        latest.column("n").to_pylist() == [9] and "licensor" not in latest.column_names
    )  # Hive keys in paths
