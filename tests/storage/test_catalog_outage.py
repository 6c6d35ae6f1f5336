"""A catalog that stops answering is a failure with its cause, never an empty lake: retention and
builds (which delete or drop what the catalog no longer lists) must delete nothing then."""

from __future__ import annotations

import pytest

from pipeline.config import Settings, open_table_lake
from pipeline.layout import Layout
from pipeline.orchestration.retention import apply_retention
from pipeline.storage.tables import TableStoreError
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from tests.kits.fake_lake import FIRST_DAY, write_lake


def _files(layout: Layout) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in sorted(layout.data_dir.rglob("*.parquet"))}


def test_catalog_cut_mid_run_fails_with_the_cause_and_deletes_nothing(tmp_path):
    layout = Layout(tmp_path / "data")
    write_lake(layout, days=2, rows=10)
    assert build_warehouse(layout).passed
    before = _files(layout)
    assert len(before) > 16

    with open(layout.catalog_db, "r+b") as damaged:  # the catalog's file overwritten in place, mid-run
        damaged.write(b"this is no longer an SQLite database" * 200)

    with pytest.raises(TableStoreError, match="cannot list the tables of the Iceberg catalog"):
        apply_retention(layout, keep_days=1, today=FIRST_DAY.replace(day=20))
    with pytest.raises(TableStoreError):
        build_warehouse(layout)
    assert _files(layout) == before  # nothing deleted, nothing rewritten
    con = open_catalog(layout.warehouse_path)  # and the published catalog still answers
    try:
        assert con.execute("SELECT count(*) FROM lake.streams").fetchone()[0] > 0
    finally:
        con.close()


def test_a_dead_postgresql_catalog_is_an_error_not_an_empty_lake(tmp_path):
    dead = "postgresql+psycopg://nobody:secret@127.0.0.1:9/catalog?connect_timeout=2"
    settings = Settings(data_dir=tmp_path / "data", catalog_uri=dead)
    with pytest.raises(Exception) as failure:
        open_table_lake(settings).table_names()
    assert "secret" not in str(failure.value)
    assert not isinstance(failure.value, AssertionError)
    assert not any((tmp_path / "data").rglob("*.parquet"))
