"""A catalog that stops answering is a failure with its cause, never an empty lake: a reader that
mirrors the catalog (the read cache, retention) must delete nothing when it cannot list the tables."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pipeline.config import Settings, open_table_lake
from pipeline.layout import Layout
from pipeline.storage.tables import TableStoreError
from pipeline.warehouse.table_cache import sync_cache
from tests.kits.commit_driver import rows

DAY = date(2026, 6, 10)


def test_catalog_cut_mid_run_fails_with_the_cause_and_deletes_nothing(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", lake_url=str(tmp_path / "tables"))
    lake, layout = open_table_lake(settings), Layout(tmp_path / "reader")
    for n in range(2):
        lake.replace_partition("streams", "acme", DAY + timedelta(days=n), rows(3, n))
    sync_cache(lake, layout, run_id="run-1")
    cached = sorted(layout.lake_table("streams").rglob("*.parquet"))
    assert len(cached) == 2

    catalog_file = settings.iceberg_catalog_uri.removeprefix("sqlite:///")
    with open(catalog_file, "r+b") as damaged:  # the catalog's file overwritten in place, mid-run
        damaged.write(b"this is no longer an SQLite database" * 200)

    with pytest.raises(TableStoreError, match="cannot list the tables of the Iceberg catalog"):
        sync_cache(lake, layout, run_id="run-2")
    with pytest.raises(TableStoreError):
        lake.delete_before(DAY + timedelta(days=5))
    with pytest.raises(TableStoreError):
        lake.snapshot_ids()
    assert sorted(layout.lake_table("streams").rglob("*.parquet")) == cached  # nothing deleted
    assert all(path.stat().st_size for path in cached)


def test_a_dead_postgresql_catalog_is_an_error_not_an_empty_lake(tmp_path):
    dead = "postgresql+psycopg://nobody:secret@127.0.0.1:9/catalog?connect_timeout=2"
    settings = Settings(data_dir=tmp_path / "data", lake_url=str(tmp_path / "tables"), catalog_uri=dead)
    with pytest.raises(Exception) as failure:
        open_table_lake(settings).table_names()
    assert "secret" not in str(failure.value)
    assert not isinstance(failure.value, AssertionError)
